package allowance.intent_test

import data.allowance.intent

intent_input(max_amount, merchant, now) := {
	"now": now,
	"agent": {"metadata": {"cost_centre": "operations"}},
	"request": {"max_amount": max_amount, "merchant": merchant},
}

laptops := {"id": "mer_laptops", "mcc": "5045"}

test_intent_allowed if {
	intent.decision == {"action": "ALLOW", "reasons": []} with input as intent_input(90000, laptops, "2026-11-24T09:00:00.000Z")
}

test_intent_over_cap_and_unapproved if {
	d := intent.decision with input as intent_input(100001, {"id": "mer_x", "mcc": "5045"}, "2026-11-24T09:00:00.000Z")
	d == {"action": "DENY", "reasons": ["policy:cost_centre_cap_exceeded", "policy:vendor_not_approved"]}
}

test_intent_weekend_review if {
	d := intent.decision with input as intent_input(50000, laptops, "2026-11-29T09:00:00.000Z")
	d == {"action": "STEP_UP", "reasons": ["policy:weekend_review"]}
}
