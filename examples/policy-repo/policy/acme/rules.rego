# Acme's spending rules, shared by the spend and the intent decision.
# A purchase is {"amount", "merchant", "agent", "now"}; the rules read their settings from
# data.acme (data.json): the vendor allow-list, the caps per cost centre, the weekend threshold.
package acme.rules

settings := data.purchasing

# The cost centre an agent charges: its metadata label, "default" when it has none.
cost_centre(agent) := object.get(agent.metadata, "cost_centre", "default")

# The cap (minor units, per purchase) of an agent's cost centre.
cap(agent) := settings.cost_centre_caps[cost_centre(agent)]

cap(agent) := settings.default_cost_centre_cap if not settings.cost_centre_caps[cost_centre(agent)]

# Software, cloud and hardware (vendor-controlled categories) only from approved vendors.
# A merchant without a category or an id cannot prove it is approved.
deny contains "policy:vendor_not_approved" if {
	vendor_controlled(input_merchant)
	not approved_vendor(input_merchant)
}

vendor_controlled(merchant) if object.get(merchant, "mcc", "") in {m | some m in settings.vendor_controlled_mcc}

vendor_controlled(merchant) if not merchant.mcc

approved_vendor(merchant) if merchant.id in {v | some v in settings.approved_vendors}

input_merchant := object.get(input, ["request", "merchant"], {})

# Day of the week of an RFC 3339 UTC time: 0 Sunday … 6 Saturday. The WASM runtime has no
# time.* builtins, so it is computed from the date (Sakamoto's method).
weekday(now) := day if {
	y0 := to_number(substring(now, 0, 4))
	m := to_number(substring(now, 5, 2))
	d := to_number(substring(now, 8, 2))
	offsets := [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
	y := y0 - to_number(m < 3)
	day := (((((y + floor(y / 4)) - floor(y / 100)) + floor(y / 400)) + offsets[m - 1]) + d) % 7
}

weekend(now) if weekday(now) in {0, 6}

# On weekends (UTC), purchases above the threshold need a human.
weekend_review(amount, now) if {
	weekend(now)
	amount > settings.weekend_review_above
}
