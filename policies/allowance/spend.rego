# Default spend policy: decides one payment authorization.
# Entry point allowance/spend/decision; input described by
# schemas/spend-input.schema.json, output by schemas/decision-output.schema.json.
package allowance.spend

import data.allowance.lib
import data.allowance.rules as org_rules

request := input.request

authority := input.authority

intent := input.intent

rules := authority.merchant_rules

# Every deny reason except the amount-window ones, which partial approval may waive.
base_deny contains "agent_not_active" if input.agent.status != "active"

base_deny contains "binding_not_active" if input.binding.status != "active"

base_deny contains "authority_not_active" if authority.status != "active"

base_deny contains "authority_not_yet_valid" if lib.not_yet_valid(authority, input.now)

base_deny contains "authority_expired" if lib.expired(authority, input.now)

base_deny contains "currency_not_allowed" if request.currency != authority.currency

base_deny contains "amount_invalid" if request.amount <= 0

base_deny contains "mcc_blocked" if lib.blocked(rules.block_mcc, request.merchant, "mcc")

base_deny contains "mcc_not_allowed" if lib.not_allowed(rules.allow_mcc, request.merchant, "mcc")

base_deny contains "merchant_blocked" if lib.blocked(rules.block_merchant_ids, request.merchant, "id")

base_deny contains "merchant_not_allowed" if lib.not_allowed(rules.allow_merchant_ids, request.merchant, "id")

base_deny contains "country_not_allowed" if lib.not_allowed(rules.allow_countries, request.merchant, "country")

base_deny contains "per_transaction_limit_exceeded" if {
	limit := authority.limits.per_transaction
	limit != null
	request.amount > limit
}

base_deny contains "velocity_limit_exceeded" if {
	some window in lib.windows
	limit := authority.velocity[window]
	limit != null
	input.usage[window].count + 1 > limit
}

base_deny contains "intent_required" if {
	authority.require_intent
	request.intent_id == null
}

base_deny contains reason if some reason in intent_problems

# Problems with the intent the payment refers to; empty when the intent is usable.
intent_problems contains "intent_not_found" if {
	request.intent_id != null
	intent == null
}

intent_problems contains "intent_not_found" if intent.agent_id != input.agent.id

intent_problems contains "intent_consumed" if intent.status == "consumed"

intent_problems contains "intent_expired" if intent.status == "expired"

intent_problems contains "intent_expired" if intent.expires_at <= input.now

intent_problems contains "intent_not_approved" if intent.status in {"pending_approval", "denied", "cancelled"}

intent_problems contains "intent_amount_mismatch" if intent.currency != request.currency

intent_problems contains "intent_amount_mismatch" if request.amount + intent.consumed_amount > intent.max_amount

intent_problems contains "intent_merchant_mismatch" if {
	some field in ["id", "mcc", "country"]
	expected := intent.merchant[field]
	not request.merchant[field] == expected
}

valid_intent if {
	intent != null
	count(intent_problems) == 0
}

# Budget left in each limited amount window, never below zero.
remaining[window] := max([limit - input.usage[window].spent, 0]) if {
	some window in lib.windows
	limit := authority.limits[window]
	limit != null
}

exceeded_windows contains window if {
	some window, left in remaining
	request.amount > left
}

min_remaining := min([left | some left in remaining])

partial_approval if {
	count(exceeded_windows) > 0
	authority.partial_approval
	request.partial_approval_supported
	min_remaining > 0
	count(base_deny) == 0
}

deny contains reason if some reason in base_deny

deny contains lib.window_limit_reason[window] if {
	not partial_approval
	some window in exceeded_windows
}

step_up if {
	authority.step_up_above != null
	request.amount > authority.step_up_above
	not valid_intent
}

# A rules revision (this policy's WASM with an org's rules as data) is an org layer: it decides by the
# rules alone, since the base layer (this policy without rules data) runs beside it and the engine's
# checks apply after both.
decision := rules_decision if {
	org_rules.enabled
} else := {"action": "DENY", "reasons": sort(deny)} if {
	count(deny) > 0
} else := {"action": "STEP_UP", "reasons": ["step_up_required"]} if {
	step_up
} else := {"action": "ALLOW_WITH_LIMITS", "reasons": ["partially_approved"], "approved_amount": min_remaining} if {
	partial_approval
} else := {"action": "ALLOW", "reasons": []}

# An approved intent the payment matches is the approval a require_approval rule asks for, as it is for
# step_up_above.
rules_decision := {"action": "ALLOW", "reasons": []} if {
	org_rules.outcome.action == "STEP_UP"
	valid_intent
} else := org_rules.outcome
