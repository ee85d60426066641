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

# A condition that is absent matches.
matches(c) if {
	amount_matches(c)
	listed(c, "currency", request.currency)
	listed_field(c, "mcc", "mcc")
	listed_field(c, "merchant", "id")
	listed_field(c, "country", "country")
	listed(c, "agent", input.agent.id)
	weekday_matches(c)
	time_matches(c)
	velocity_matches(c)
}

amount_matches(c) if not c.amount

amount_matches(c) if {
	at_least(request.amount, c.amount, "gte")
	at_most(request.amount, c.amount, "lte")
}

# A bound that is absent holds.
at_least(_, bounds, key) if not bounds[key]

at_least(value, bounds, key) if value >= bounds[key]

at_most(_, bounds, key) if not bounds[key]

at_most(value, bounds, key) if value <= bounds[key]

# A list condition is {"in": [...]} or {"not_in": [...]}.
listed(c, name, _) if not c[name]

listed(c, name, value) if value in c[name]["in"]

listed(c, name, value) if {
	list := c[name].not_in
	not value in list
}

# A merchant field the processor did not send is in no list: `in` does not match, `not_in` does.
listed_field(c, name, field) if listed(c, name, request.merchant[field])

listed_field(c, name, field) if {
	not request.merchant[field]
	c[name].not_in
}

listed_field(c, name, _) if not c[name]

# Weekday and minute of day come from the engine (`input.local_time`, in the authority's time zone).
weekday_matches(c) if not c.weekdays

weekday_matches(c) if {
	some day in c.weekdays
	weekday_number[day] == input.local_time.weekday
}

time_matches(c) if not c.time_of_day

# Within [from, to); a window whose end is not after its start wraps past midnight.
time_matches(c) if {
	from := minutes(c.time_of_day.from)
	to := minutes(c.time_of_day.to)
	in_window(from, to, input.local_time.minute_of_day)
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

# Usage of the window counts this payment: `count_above` n matches the (n+1)th payment on, `spent_above`
# once the window's spending with this amount would pass n.
velocity_matches(c) if not c.velocity

velocity_matches(c) if {
	v := c.velocity
	used := input.usage[v.window]
	above(used.count + 1, v, "count_above")
	above(used.spent + request.amount, v, "spent_above")
}

above(_, bounds, key) if not bounds[key]

above(value, bounds, key) if value > bounds[key]

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
