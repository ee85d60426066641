package allowance.spend_test

import data.allowance.spend

window(spent, n) := {"period": "p", "spent": spent, "count": n}

base := {
	"version": "1",
	"now": "2026-11-23T10:00:00.000Z",
	"org": {"id": "org_1"},
	"request": {
		"authorization_id": "az_1",
		"processor_id": "prc_1",
		"amount": 1000,
		"currency": "EUR",
		"merchant": {"id": "m_1", "name": "Shop", "mcc": "5411", "country": "DE"},
		"channel": "online",
		"intent_id": null,
		"partial_approval_supported": false,
	},
	"agent": {
		"id": "agt_1", "status": "active", "name": "buyer", "owner": null,
		"model_provider": null, "model_name": null, "framework": null, "metadata": {},
	},
	"authority": {
		"id": "sa_1",
		"status": "active",
		"currency": "EUR",
		"time_zone": "UTC",
		"limits": {"per_transaction": null, "daily": null, "weekly": null, "monthly": null, "total": null},
		"velocity": {"daily": null, "weekly": null, "monthly": null, "total": null},
		"merchant_rules": {
			"allow_mcc": [], "block_mcc": [], "allow_merchant_ids": [],
			"block_merchant_ids": [], "allow_countries": [],
		},
		"valid_from": null,
		"valid_until": null,
		"step_up_above": null,
		"require_intent": false,
		"partial_approval": false,
		"version": 1,
	},
	"binding": {
		"id": "bnd_1", "status": "active", "processor_id": "prc_1",
		"credential": {"type": "card", "reference": "tok_1"},
	},
	"usage": {"daily": window(0, 0), "weekly": window(0, 0), "monthly": window(0, 0), "total": window(0, 0)},
	"intent": null,
}

good_intent := {
	"id": "int_1", "agent_id": "agt_1", "status": "approved", "max_amount": 5000, "currency": "EUR",
	"consumed_amount": 0, "merchant": {"id": "m_1", "mcc": "5411", "country": "DE"},
	"expires_at": "2026-11-24T00:00:00.000Z", "single_use": true,
}

with_intent(patch) := object.union(base, {
	"request": {"intent_id": "int_1"},
	"intent": object.union(good_intent, patch),
})

eval(patch) := run(object.union(base, patch))

run(doc) := result if {
	result := spend.decision with input as doc
}

auth(patch) := {"authority": patch}

req(patch) := {"request": patch}

limits(patch) := auth({"limits": patch})

mrules(patch) := auth({"merchant_rules": patch})

# object.union merges deeply, so a merchant field is dropped explicitly.
without_merchant(doc, field) := json.remove(doc, [concat("/", ["request", "merchant", field])])

denied(result, reason) if {
	result.action == "DENY"
	reason in result.reasons
}

test_allow if eval({}) == {"action": "ALLOW", "reasons": []}

test_agent_not_active if denied(eval({"agent": {"status": "paused"}}), "agent_not_active")

test_binding_not_active if denied(eval({"binding": {"status": "revoked"}}), "binding_not_active")

test_authority_not_active if denied(eval(auth({"status": "paused"})), "authority_not_active")

test_authority_not_yet_valid if denied(eval(auth({"valid_from": "2026-11-23T10:00:00.001Z"})), "authority_not_yet_valid")

test_authority_valid_from_now if eval(auth({"valid_from": "2026-11-23T10:00:00.000Z"})).action == "ALLOW"

test_authority_expired if denied(eval(auth({"valid_until": "2026-11-23T10:00:00.000Z"})), "authority_expired")

test_authority_valid_until_later if eval(auth({"valid_until": "2026-11-23T10:00:00.001Z"})).action == "ALLOW"

test_currency_not_allowed if denied(eval(req({"currency": "USD"})), "currency_not_allowed")

test_amount_invalid if denied(eval(req({"amount": 0})), "amount_invalid")

test_mcc_blocked if denied(eval(mrules({"block_mcc": ["5411"]})), "mcc_blocked")

test_mcc_not_allowed if denied(eval(mrules({"allow_mcc": ["5812"]})), "mcc_not_allowed")

test_mcc_missing_not_allowed if {
	r := run(without_merchant(object.union(base, mrules({"allow_mcc": ["5411"]})), "mcc"))
	denied(r, "mcc_not_allowed")
}

test_mcc_allowed if eval(mrules({"allow_mcc": ["5411"]})).action == "ALLOW"

test_merchant_blocked if denied(eval(mrules({"block_merchant_ids": ["m_1"]})), "merchant_blocked")

test_merchant_not_allowed if denied(eval(mrules({"allow_merchant_ids": ["m_2"]})), "merchant_not_allowed")

test_country_not_allowed if denied(eval(mrules({"allow_countries": ["FR"]})), "country_not_allowed")

test_country_missing_not_allowed if {
	r := run(without_merchant(object.union(base, mrules({"allow_countries": ["DE"]})), "country"))
	denied(r, "country_not_allowed")
}

test_per_transaction_limit_exceeded if {
	r := eval(object.union(
		object.union(limits({"per_transaction": 999, "daily": 500}), auth({"partial_approval": true})),
		req({"partial_approval_supported": true}),
	))
	r == {"action": "DENY", "reasons": ["daily_limit_exceeded", "per_transaction_limit_exceeded"]}
}

test_per_transaction_at_limit if eval(limits({"per_transaction": 1000})).action == "ALLOW"

test_velocity_limit_exceeded if {
	r := eval(object.union(auth({"velocity": {"daily": 3}}), {"usage": {"daily": window(0, 3)}}))
	r == {"action": "DENY", "reasons": ["velocity_limit_exceeded"]}
}

test_velocity_below_limit if {
	r := eval(object.union(auth({"velocity": {"daily": 4}}), {"usage": {"daily": window(0, 3)}}))
	r.action == "ALLOW"
}

usage_spent(spent) := {"usage": {"daily": window(spent, 0), "weekly": window(spent, 0), "monthly": window(spent, 0), "total": window(spent, 0)}}

test_window_limits_exceeded if {
	r := eval(object.union(limits({"daily": 1500, "weekly": 1500, "monthly": 1500, "total": 1500}), usage_spent(600)))
	r == {"action": "DENY", "reasons": ["daily_limit_exceeded", "monthly_limit_exceeded", "total_limit_exceeded", "weekly_limit_exceeded"]}
}

test_window_limit_exact if eval(object.union(limits({"daily": 1600}), usage_spent(600))).action == "ALLOW"

test_window_overspent_floor if {
	r := eval(object.union(object.union(limits({"daily": 500}), usage_spent(600)), object.union(auth({"partial_approval": true}), req({"partial_approval_supported": true}))))
	r == {"action": "DENY", "reasons": ["daily_limit_exceeded"]}
}

partial_setup := object.union(
	object.union(limits({"daily": 1500, "monthly": 1300}), usage_spent(600)),
	object.union(auth({"partial_approval": true}), req({"partial_approval_supported": true})),
)

test_partially_approved if {
	eval(partial_setup) == {"action": "ALLOW_WITH_LIMITS", "reasons": ["partially_approved"], "approved_amount": 700}
}

test_partial_needs_processor_support if {
	r := eval(object.union(partial_setup, req({"partial_approval_supported": false})))
	r == {"action": "DENY", "reasons": ["daily_limit_exceeded", "monthly_limit_exceeded"]}
}

test_partial_not_with_other_deny if {
	r := eval(object.union(partial_setup, {"binding": {"status": "suspended"}}))
	r == {"action": "DENY", "reasons": ["binding_not_active", "daily_limit_exceeded", "monthly_limit_exceeded"]}
}

test_intent_required if denied(eval(auth({"require_intent": true})), "intent_required")

test_intent_required_satisfied if {
	r := run(object.union(with_intent({}), auth({"require_intent": true})))
	r.action == "ALLOW"
}

test_intent_not_found_missing if denied(eval(req({"intent_id": "int_9"})), "intent_not_found")

test_intent_not_found_other_agent if denied(run(with_intent({"agent_id": "agt_2"})), "intent_not_found")

test_intent_consumed if denied(run(with_intent({"status": "consumed"})), "intent_consumed")

test_intent_expired_status if denied(run(with_intent({"status": "expired"})), "intent_expired")

test_intent_expired_time if denied(run(with_intent({"expires_at": "2026-11-23T10:00:00.000Z"})), "intent_expired")

test_intent_not_approved if {
	every status in ["pending_approval", "denied", "cancelled"] {
		denied(run(with_intent({"status": status})), "intent_not_approved")
	}
}

test_intent_currency_mismatch if denied(run(with_intent({"currency": "USD"})), "intent_amount_mismatch")

test_intent_amount_mismatch if denied(run(with_intent({"consumed_amount": 4001})), "intent_amount_mismatch")

test_intent_amount_exact if run(with_intent({"consumed_amount": 4000})).action == "ALLOW"

test_intent_merchant_mismatch if {
	every m in [{"id": "m_2"}, {"mcc": "5812"}, {"country": "FR"}] {
		denied(run(with_intent({"merchant": m})), "intent_merchant_mismatch")
	}
}

test_intent_merchant_field_missing_in_request if {
	i := without_merchant(with_intent({}), "mcc")
	denied(run(i), "intent_merchant_mismatch")
}

test_intent_merchant_partial_match if {
	run(with_intent({"merchant": {"country": "DE"}})).action == "ALLOW"
}

test_step_up_required if eval(auth({"step_up_above": 999})) == {"action": "STEP_UP", "reasons": ["step_up_required"]}

test_step_up_at_threshold if eval(auth({"step_up_above": 1000})).action == "ALLOW"

test_step_up_waived_by_intent if {
	run(object.union(with_intent({}), auth({"step_up_above": 10}))).action == "ALLOW"
}

test_step_up_before_partial if {
	r := eval(object.union(partial_setup, auth({"partial_approval": true, "step_up_above": 10})))
	r == {"action": "STEP_UP", "reasons": ["step_up_required"]}
}

test_deny_before_step_up if {
	r := eval(object.union(auth({"step_up_above": 10, "status": "revoked"}), req({"amount": -1})))
	r == {"action": "DENY", "reasons": ["amount_invalid", "authority_not_active"]}
}
