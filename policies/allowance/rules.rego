# Rules as data: an org's ordered rules, evaluated over `data.allowance_rules.rules`.
#
# A rules revision is a bundle of this base policy's WASM with the org's rules as its data document; the
# engine validates the rules (src/schemas/rules.ts) before it builds one. Without rules data (the base
# layer itself) `enabled` is undefined and the spend and intent policies decide as usual.
#
# Order: active rules by `priority` (lower first), then by their position in the list. The first rule
# whose conditions all match decides, except a `throttle` rule still under its rate, which passes the
# payment on to the next rule. No deciding rule: ALLOW (the base layer and the engine still decide).
package allowance.rules

# Whether this bundle carries rules data (a rules revision).
enabled if is_array(data.allowance_rules.rules)

rules := data.allowance_rules.rules

request := input.request

# ISO weekday numbers of the weekday names rules use.
weekday_number := {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}

# Default reason code of each action; a rule's own `reason` replaces it.
action_reason := {
	"deny": "rule_denied",
	"require_approval": "rule_requires_approval",
	"throttle": "rule_throttled",
}

# [priority, position] of each rule that decides this payment; the smallest decides.
deciding contains [rule.priority, i] if {
	some i, rule in rules
	rule.is_active
	matches(rule.conditions)
	decides(rule.action)
}

first := rules[min(deciding)[1]]

# Every condition the rule states must match (only those are evaluated); none stated matches every payment.
matches(conditions) if {
	every name, condition in conditions {
		condition_matches(name, condition)
	}
}

condition_matches("amount", bounds) if {
	at_least(request.amount, bounds, "gte")
	at_most(request.amount, bounds, "lte")
}

condition_matches("currency", list) if listed(list, request.currency)

condition_matches("mcc", list) if listed_field(list, "mcc")

condition_matches("merchant", list) if listed_field(list, "id")

condition_matches("country", list) if listed_field(list, "country")

condition_matches("agent", list) if listed(list, input.agent.id)

# Weekday and minute of day come from the engine (`input.local_time`, in the authority's time zone).
condition_matches("weekdays", days) if {
	some day in days
	weekday_number[day] == input.local_time.weekday
}

# Within [from, to); a window whose end is not after its start wraps past midnight.
condition_matches("time_of_day", window) if {
	in_window(minutes(window.from), minutes(window.to), input.local_time.minute_of_day)
}

# Usage of the window counts this payment: `count_above` n matches the (n+1)th payment on, `spent_above`
# once the window's spending with this amount would pass n.
condition_matches("velocity", v) if {
	used := input.usage[v.window]
	above(used.count + 1, v, "count_above")
	above(used.spent + request.amount, v, "spent_above")
}

# A bound that is absent holds.
at_least(_, bounds, key) if not bounds[key]

at_least(value, bounds, key) if value >= bounds[key]

at_most(_, bounds, key) if not bounds[key]

at_most(value, bounds, key) if value <= bounds[key]

above(_, bounds, key) if not bounds[key]

above(value, bounds, key) if value > bounds[key]

# A list condition is {"in": [...]} or {"not_in": [...]}.
listed(list, value) if value in list["in"]

listed(list, value) if {
	values := list.not_in
	not value in values
}

# A merchant field the processor did not send is in no list: `in` does not match, `not_in` does.
listed_field(list, field) if listed(list, request.merchant[field])

listed_field(list, field) if {
	not request.merchant[field]
	list.not_in
}

in_window(from, to, m) if {
	from < to
	m >= from
	m < to
}

in_window(from, to, m) if {
	from >= to
	m >= from
}

in_window(from, to, m) if {
	from >= to
	m < to
}

# "HH:MM" -> minutes since midnight.
minutes(hhmm) := (to_number(substring(hhmm, 0, 2)) * 60) + to_number(substring(hhmm, 3, 2))

# allow, deny and require_approval decide; a throttle decides once the window is past its rate.
decides(action) if action.type != "throttle"

decides(action) if {
	action.type == "throttle"
	input.usage[action.rate.window].count + 1 > action.rate.count
}

reason(action) := object.get(action, "reason", action_reason[action.type])

outcome := {"action": "ALLOW", "reasons": []} if {
	count(deciding) == 0
} else := {"action": "ALLOW", "reasons": []} if {
	first.action.type == "allow"
} else := {"action": "STEP_UP", "reasons": [reason(first.action)]} if {
	first.action.type == "require_approval"
} else := {"action": "DENY", "reasons": [reason(first.action)]}
