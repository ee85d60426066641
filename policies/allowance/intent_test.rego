package allowance.intent_test

import data.allowance.intent
import data.allowance.spend_test

base := {
	"version": "1",
	"now": "2026-11-23T10:00:00.000Z",
	"org": {"id": "org_1"},
	"request": {
		"agent_id": "agt_1",
		"description": "groceries",
		"max_amount": 1000,
		"currency": "EUR",
		"merchant": {"id": "m_1", "mcc": "5411", "country": "DE"},
		"expires_at": "2026-11-24T10:00:00.000Z",
		"single_use": true,
	},
	"agent": spend_test.base.agent,
	"authority": spend_test.base.authority,
	"usage": spend_test.base.usage,
}

run(doc) := result if {
	result := intent.decision with input as doc
}

eval(patch) := run(object.union(base, patch))

auth(patch) := {"authority": patch}

req(patch) := {"request": patch}

mrules(patch) := auth({"merchant_rules": patch})

bare_merchant := json.remove(base, ["request/merchant"])

denied(result, reason) if {
	result.action == "DENY"
	reason in result.reasons
}

test_allow if eval({}) == {"action": "ALLOW", "reasons": []}

test_agent_not_active if denied(eval({"agent": {"status": "revoked"}}), "agent_not_active")

test_authority_not_active if denied(eval(auth({"status": "paused"})), "authority_not_active")

test_authority_not_yet_valid if denied(eval(auth({"valid_from": "2026-11-23T10:00:01.000Z"})), "authority_not_yet_valid")

test_authority_expired if denied(eval(auth({"valid_until": "2026-11-23T10:00:00.000Z"})), "authority_expired")

test_currency_not_allowed if denied(eval(req({"currency": "USD"})), "currency_not_allowed")

test_amount_invalid if denied(eval(req({"max_amount": 0})), "amount_invalid")

test_mcc_blocked if denied(eval(mrules({"block_mcc": ["5411"]})), "mcc_blocked")

test_mcc_not_allowed if denied(eval(mrules({"allow_mcc": ["5812"]})), "mcc_not_allowed")

test_merchant_blocked if denied(eval(mrules({"block_merchant_ids": ["m_1"]})), "merchant_blocked")

test_merchant_not_allowed if denied(eval(mrules({"allow_merchant_ids": ["m_2"]})), "merchant_not_allowed")

test_country_not_allowed if denied(eval(mrules({"allow_countries": ["FR"]})), "country_not_allowed")

test_unstated_merchant_fields_pass_allow_lists if {
	doc := object.union(bare_merchant, {
		"request": {"merchant": {"name": "Shop"}},
		"authority": {"merchant_rules": {"allow_mcc": ["5812"], "allow_merchant_ids": ["m_2"], "allow_countries": ["FR"]}},
	})
	run(doc) == {"action": "ALLOW", "reasons": []}
}

test_intent_expired if denied(eval(req({"expires_at": "2026-11-23T10:00:00.000Z"})), "intent_expired")

test_per_transaction_limit_exceeded if {
	denied(eval(auth({"limits": {"per_transaction": 999}})), "per_transaction_limit_exceeded")
}

test_per_transaction_ignored_for_multi_use if {
	eval(object.union(auth({"limits": {"per_transaction": 999}}), req({"single_use": false}))).action == "ALLOW"
}

test_total_limit_exceeded if {
	r := eval({"authority": {"limits": {"total": 1500}}, "usage": {"total": {"spent": 501}}})
	r == {"action": "DENY", "reasons": ["total_limit_exceeded"]}
}

test_total_limit_exact if eval({"authority": {"limits": {"total": 1500}}, "usage": {"total": {"spent": 500}}}).action == "ALLOW"

test_step_up_required if eval(auth({"step_up_above": 999})) == {"action": "STEP_UP", "reasons": ["step_up_required"]}

test_step_up_at_threshold if eval(auth({"step_up_above": 1000})).action == "ALLOW"

test_deny_before_step_up if {
	r := eval(object.union(auth({"step_up_above": 10, "currency": "USD"}), {"agent": {"status": "paused"}}))
	r == {"action": "DENY", "reasons": ["agent_not_active", "currency_not_allowed"]}
}
