package allowance.rules_test

import data.allowance.intent
import data.allowance.intent_test
import data.allowance.spend
import data.allowance.spend_test

# Monday 10:00 local time.
base := object.union(spend_test.base, {"local_time": {"weekday": 1, "minute_of_day": 600}})

rule(id, priority, conditions, action) := {
	"id": id, "priority": priority, "is_active": true,
	"conditions": conditions, "action": action,
}

deny_if(conditions) := [rule("r", 1, conditions, {"type": "deny"})]

decide(rules, patch) := result if {
	result := spend.decision with input as object.union(base, patch) with data.allowance_rules as {"rules": rules}
}

denied_by(rules, patch) if decide(rules, patch) == {"action": "DENY", "reasons": ["rule_denied"]}

allowed(rules, patch) if decide(rules, patch) == {"action": "ALLOW", "reasons": []}

req(patch) := {"request": patch}

at(weekday, minute) := {"local_time": {"weekday": weekday, "minute_of_day": minute}}

used(window, spent, n) := {"usage": {window: {"period": "p", "spent": spent, "count": n}}}

test_without_rules_data_the_base_decides if {
	not data.allowance.rules.enabled with input as base
	spend.decision == {"action": "ALLOW", "reasons": []} with input as base
}

test_no_rules_allow if allowed([], {})

test_a_rule_without_conditions_matches_every_payment if denied_by(deny_if({}), {})

test_rules_decide_alone_not_the_base if {
	# The base would deny the currency; the rules layer leaves that to the base layer.
	allowed([], req({"currency": "USD"}))
}

test_amount_bounds if {
	denied_by(deny_if({"amount": {"gte": 1000}}), {})
	allowed(deny_if({"amount": {"gte": 1001}}), {})
	denied_by(deny_if({"amount": {"lte": 1000}}), {})
	allowed(deny_if({"amount": {"lte": 999}}), {})
	denied_by(deny_if({"amount": {"gte": 500, "lte": 1500}}), {})
	denied_by(deny_if({"amount": {}}), {})
}

test_currency_in_and_not_in if {
	denied_by(deny_if({"currency": {"in": ["EUR", "USD"]}}), {})
	allowed(deny_if({"currency": {"in": ["USD"]}}), {})
	denied_by(deny_if({"currency": {"not_in": ["USD"]}}), {})
	allowed(deny_if({"currency": {"not_in": ["EUR"]}}), {})
}

test_mcc_merchant_country_agent if {
	denied_by(deny_if({"mcc": {"in": ["5411"]}}), {})
	allowed(deny_if({"mcc": {"in": ["7995"]}}), {})
	denied_by(deny_if({"merchant": {"in": ["m_1"]}}), {})
	allowed(deny_if({"merchant": {"not_in": ["m_1"]}}), {})
	denied_by(deny_if({"country": {"not_in": ["US"]}}), {})
	allowed(deny_if({"country": {"in": ["US"]}}), {})
	denied_by(deny_if({"agent": {"in": ["agt_1"]}}), {})
	allowed(deny_if({"agent": {"in": ["agt_2"]}}), {})
}

test_a_missing_merchant_field_is_in_no_list if {
	doc := json.remove(object.union(base, {}), ["request/merchant/country"])
	r := {"rules": deny_if({"country": {"in": ["DE"]}})}
	spend.decision == {"action": "ALLOW", "reasons": []} with input as doc with data.allowance_rules as r
	s := {"rules": deny_if({"country": {"not_in": ["DE"]}})}
	spend.decision == {"action": "DENY", "reasons": ["rule_denied"]} with input as doc with data.allowance_rules as s

	# A field no condition names may be missing.
	t := {"rules": deny_if({"mcc": {"in": ["5411"]}})}
	spend.decision == {"action": "DENY", "reasons": ["rule_denied"]} with input as doc with data.allowance_rules as t
}

test_all_conditions_must_match if {
	allowed(deny_if({"currency": {"in": ["EUR"]}, "mcc": {"in": ["7995"]}}), {})
	denied_by(deny_if({"currency": {"in": ["EUR"]}, "mcc": {"in": ["5411"]}}), {})
}

test_weekdays_in_local_time if {
	denied_by(deny_if({"weekdays": ["sat", "sun"]}), at(6, 600))
	denied_by(deny_if({"weekdays": ["sat", "sun"]}), at(7, 0))
	allowed(deny_if({"weekdays": ["sat", "sun"]}), at(1, 600))
	allowed(deny_if({"weekdays": ["mon"]}), {"local_time": null})
}

test_time_of_day_window if {
	office := deny_if({"time_of_day": {"from": "09:00", "to": "17:30"}})
	denied_by(office, at(1, 540))
	denied_by(office, at(1, 1049))
	allowed(office, at(1, 1050))
	allowed(office, at(1, 539))
}

test_time_of_day_window_past_midnight if {
	night := deny_if({"time_of_day": {"from": "22:00", "to": "06:00"}})
	denied_by(night, at(1, 1320))
	denied_by(night, at(1, 1439))
	denied_by(night, at(1, 0))
	denied_by(night, at(1, 359))
	allowed(night, at(1, 360))
	allowed(night, at(1, 1319))
}

test_velocity_condition if {
	# The third payment of the day and on.
	third := deny_if({"velocity": {"window": "daily", "count_above": 2}})
	allowed(third, used("daily", 0, 1))
	denied_by(third, used("daily", 0, 2))
	big := deny_if({"velocity": {"window": "weekly", "spent_above": 10000}})
	allowed(big, used("weekly", 9000, 3))
	denied_by(big, used("weekly", 9001, 3))
	both := deny_if({"velocity": {"window": "monthly", "count_above": 2, "spent_above": 10000}})

	# Both bounds must be passed.
	allowed(both, used("monthly", 9500, 1))
	allowed(both, used("monthly", 8000, 5))
	denied_by(both, used("monthly", 9500, 2))
}

test_require_approval_steps_up if {
	r := [rule("big", 1, {"amount": {"gte": 500}}, {"type": "require_approval"})]
	decide(r, {}) == {"action": "STEP_UP", "reasons": ["rule_requires_approval"]}
}

test_require_approval_is_met_by_a_valid_intent if {
	r := [rule("big", 1, {}, {"type": "require_approval"})]
	doc := object.union(base, {
		"request": {"intent_id": "int_1"},
		"intent": spend_test.good_intent,
	})
	spend.decision == {"action": "ALLOW", "reasons": []} with input as doc with data.allowance_rules as {"rules": r}
	unusable := object.union(doc, {"intent": {"status": "consumed"}})
	spend.decision.action == "STEP_UP" with input as unusable with data.allowance_rules as {"rules": r}
	deny := [rule("no", 1, {}, {"type": "deny"})]
	spend.decision.action == "DENY" with input as doc with data.allowance_rules as {"rules": deny}
}

test_a_rule_reason_replaces_the_default if {
	r := [rule("g", 1, {}, {"type": "deny", "reason": "no_gambling"})]
	decide(r, {}) == {"action": "DENY", "reasons": ["no_gambling"]}
}

test_throttle_passes_under_its_rate_and_denies_past_it if {
	throttle := rule("t", 1, {}, {"type": "throttle", "rate": {"count": 3, "window": "daily"}})
	then_deny := rule("d", 2, {"mcc": {"in": ["5411"]}}, {"type": "deny"})
	allowed([throttle], used("daily", 0, 2))
	decide([throttle], used("daily", 0, 3)) == {"action": "DENY", "reasons": ["rule_throttled"]}

	# Under its rate the next rule decides.
	denied_by([throttle, then_deny], used("daily", 0, 0))
}

test_priority_then_position if {
	allow := rule("a", 1, {}, {"type": "allow"})
	deny := rule("d", 2, {}, {"type": "deny"})
	allowed([deny, allow], {})
	denied_by([object.union(deny, {"priority": 0}), allow], {})

	# Equal priorities: the earlier rule in the list.
	allowed([allow, object.union(deny, {"priority": 1})], {})
	denied_by([object.union(deny, {"priority": 1}), allow], {})
}

test_inactive_rules_are_skipped if {
	off := object.union(rule("off", 1, {}, {"type": "deny"}), {"is_active": false})
	allowed([off], {})
	denied_by([off, rule("on", 2, {}, {"type": "deny"})], {})
}

test_a_non_matching_rule_does_not_decide if {
	r := [rule("x", 1, {"mcc": {"in": ["7995"]}}, {"type": "allow"}), rule("y", 2, {}, {"type": "deny"})]
	denied_by(r, {})
}

test_rules_revision_leaves_intents_to_the_base if {
	# The base intent policy would deny this currency.
	doc := object.union(intent_test.base, {"request": {"currency": "USD"}})
	intent.decision.action == "DENY" with input as doc
	intent.decision == {"action": "ALLOW", "reasons": []} with input as doc with data.allowance_rules as {"rules": []}
}
