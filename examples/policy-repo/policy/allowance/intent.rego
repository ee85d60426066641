# Acme's intent policy: entry point allowance/intent/decision. An agent declaring what it intends
# to buy gets the same vendor and cost-centre rules as the payment will.
package allowance.intent

import data.acme.rules

request := input.request

deny contains reason if some reason in rules.deny

deny contains "policy:cost_centre_cap_exceeded" if request.max_amount > rules.cap(input.agent)

decision := {"action": "DENY", "reasons": sort([r | some r in deny])} if {
	count(deny) > 0
} else := {"action": "STEP_UP", "reasons": ["policy:weekend_review"]} if {
	rules.weekend_review(request.max_amount, input.now)
} else := {"action": "ALLOW", "reasons": []}
