# Helpers shared by the spend and intent policies. Kept to simple lookups and
# membership tests so that evaluation stays within a few microseconds.
package allowance.lib

# Amount and velocity windows, in the order the engine reports them.
windows := ["daily", "weekly", "monthly", "total"]

# Reason code for an amount window whose remaining budget is too small.
window_limit_reason := {
	"daily": "daily_limit_exceeded",
	"weekly": "weekly_limit_exceeded",
	"monthly": "monthly_limit_exceeded",
	"total": "total_limit_exceeded",
}

# Times are RFC 3339 UTC strings with a fixed width, so string order is time order.
not_yet_valid(authority, now) if {
	authority.valid_from != null
	now < authority.valid_from
}

expired(authority, now) if {
	authority.valid_until != null
	now >= authority.valid_until
}

# The merchant's field value is on the list.
blocked(list, merchant, field) if merchant[field] in list

# A non-empty allow list restricts; a missing field counts as not allowed.
# (A negated `merchant[field] in list` would be rewritten to require the field,
# so the lookup sits in its own rule.)
not_allowed(list, merchant, field) if {
	count(list) > 0
	not blocked(list, merchant, field)
}

# Like not_allowed, but only for a field the merchant actually states.
stated_not_allowed(list, merchant, field) if {
	value := merchant[field]
	count(list) > 0
	not value in list
}
