# Acme's spend policy: entry point allowance/spend/decision. It runs after the platform's base
# policy and can only tighten its result: DENY, STEP_UP or a lower approved amount.
package allowance.spend

import data.acme.rules

request := input.request

cap := rules.cap(input.agent)

over_cap if request.amount > cap

# Over the cost-centre cap: a partial approval up to the cap when both sides allow one.
partial if {
	over_cap
	request.partial_approval_supported
	input.authority.partial_approval
	cap > 0
}

deny contains reason if some reason in rules.deny

deny contains "policy:cost_centre_cap_exceeded" if {
	over_cap
	not partial
}

decision := {"action": "DENY", "reasons": sort([r | some r in deny])} if {
	count(deny) > 0
} else := {"action": "STEP_UP", "reasons": ["policy:weekend_review"]} if {
	rules.weekend_review(request.amount, input.now)
} else := {"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:cost_centre_cap_exceeded"], "approved_amount": cap} if {
	partial
} else := {"action": "ALLOW", "reasons": []}
