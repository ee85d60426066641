package allowance.spend_test

import data.allowance.spend

monday := "2026-11-23T10:00:00.000Z"

saturday := "2026-11-28T10:00:00.000Z"

payment(amount, merchant, cost_centre, now) := {
	"now": now,
	"agent": {"metadata": {"cost_centre": cost_centre}},
	"authority": {"partial_approval": true},
	"request": {"amount": amount, "merchant": merchant, "partial_approval_supported": false},
}

softco := {"id": "mer_softco", "mcc": "5734"}

test_approved_vendor_within_cap if {
	spend.decision == {"action": "ALLOW", "reasons": []} with input as payment(1850, softco, "engineering", monday)
}

test_unapproved_software_vendor_denied if {
	d := spend.decision with input as payment(1850, {"id": "mer_other", "mcc": "5734"}, "engineering", monday)
	d == {"action": "DENY", "reasons": ["policy:vendor_not_approved"]}
}

test_other_categories_need_no_approval if {
	d := spend.decision with input as payment(1850, {"id": "mer_cafe", "mcc": "5812"}, "marketing", monday)
	d.action == "ALLOW"
}

test_cost_centre_cap if {
	d := spend.decision with input as payment(60000, softco, "marketing", monday)
	d == {"action": "DENY", "reasons": ["policy:cost_centre_cap_exceeded"]}
	spend.decision.action == "ALLOW" with input as payment(60000, softco, "engineering", monday)
}

test_unknown_cost_centre_gets_default_cap if {
	d := spend.decision with input as payment(20001, softco, "unknown", monday)
	d.action == "DENY"
}

test_partial_approval_up_to_the_cap if {
	p := object.union(payment(60000, softco, "marketing", monday), {"request": {"partial_approval_supported": true}})
	d := spend.decision with input as p
	d == {"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:cost_centre_cap_exceeded"], "approved_amount": 50000}
}

test_weekend_review if {
	d := spend.decision with input as payment(15000, softco, "engineering", saturday)
	d == {"action": "STEP_UP", "reasons": ["policy:weekend_review"]}
	spend.decision.action == "ALLOW" with input as payment(9000, softco, "engineering", saturday)
}

test_deny_wins_over_weekend_review if {
	d := spend.decision with input as payment(15000, {"id": "mer_other", "mcc": "7372"}, "engineering", saturday)
	d.action == "DENY"
}
