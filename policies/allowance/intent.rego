# Default intent policy: decides whether an agent may declare an intent to buy.
# Entry point allowance/intent/decision; input described by
# schemas/intent-input.schema.json, output by schemas/decision-output.schema.json.
# STEP_UP means the intent needs human approval before it can be used.
package allowance.intent

import data.allowance.lib
import data.allowance.rules as org_rules

request := input.request

authority := input.authority

rules := authority.merchant_rules

deny contains "agent_not_active" if input.agent.status != "active"

deny contains "authority_not_active" if authority.status != "active"

deny contains "authority_not_yet_valid" if lib.not_yet_valid(authority, input.now)

deny contains "authority_expired" if lib.expired(authority, input.now)

deny contains "currency_not_allowed" if request.currency != authority.currency

deny contains "amount_invalid" if request.max_amount <= 0

deny contains "mcc_blocked" if lib.blocked(rules.block_mcc, request.merchant, "mcc")

deny contains "mcc_not_allowed" if lib.stated_not_allowed(rules.allow_mcc, request.merchant, "mcc")

deny contains "merchant_blocked" if lib.blocked(rules.block_merchant_ids, request.merchant, "id")

deny contains "merchant_not_allowed" if lib.stated_not_allowed(rules.allow_merchant_ids, request.merchant, "id")

deny contains "country_not_allowed" if lib.stated_not_allowed(rules.allow_countries, request.merchant, "country")

deny contains "intent_expired" if request.expires_at <= input.now

deny contains "per_transaction_limit_exceeded" if {
	request.single_use
	limit := authority.limits.per_transaction
	limit != null
	request.max_amount > limit
}

deny contains "total_limit_exceeded" if {
	limit := authority.limits.total
	limit != null
	request.max_amount > limit - input.usage.total.spent
}

step_up if {
	authority.step_up_above != null
	request.max_amount > authority.step_up_above
}

# A rules revision decides payments only: its intent layer allows, the base layer decides intents.
decision := {"action": "ALLOW", "reasons": []} if {
	org_rules.enabled
} else := {"action": "DENY", "reasons": sort(deny)} if {
	count(deny) > 0
} else := {"action": "STEP_UP", "reasons": ["step_up_required"]} if {
	step_up
} else := {"action": "ALLOW", "reasons": []}
