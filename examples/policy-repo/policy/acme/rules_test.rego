package acme.rules_test

import data.acme.rules

test_weekdays if {
	rules.weekday("2026-11-23T10:00:00.000Z") == 1 # Monday
	rules.weekday("2026-11-28T23:59:59.999Z") == 6 # Saturday
	rules.weekday("2026-11-29T00:00:00.000Z") == 0 # Sunday
	rules.weekday("2024-02-29T12:00:00.000Z") == 4 # Thursday, leap day
	rules.weekday("2027-01-01T00:00:00.000Z") == 5 # Friday
	rules.weekday("2026-03-01T00:00:00.000Z") == 0 # Sunday, after February
}

test_weekend if {
	rules.weekend("2026-11-28T10:00:00.000Z")
	not rules.weekend("2026-11-27T23:59:59.999Z")
}

test_caps_by_cost_centre if {
	rules.cap({"metadata": {"cost_centre": "engineering"}}) == 250000
	rules.cap({"metadata": {"cost_centre": "nobody"}}) == 20000
	rules.cap({"metadata": {}}) == 20000
}

test_vendor_allow_list if {
	count(rules.deny) == 0 with input as {"request": {"merchant": {"id": "mer_softco", "mcc": "5734"}}}
	rules.deny == {"policy:vendor_not_approved"} with input as {"request": {"merchant": {"id": "mer_x", "mcc": "5734"}}}
	rules.deny == {"policy:vendor_not_approved"} with input as {"request": {"merchant": {}}}
	count(rules.deny) == 0 with input as {"request": {"merchant": {"id": "mer_x", "mcc": "5411"}}}
}
