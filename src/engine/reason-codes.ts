/**
 * Every reason code a built-in decision can carry, with what it means. Part of the API: stable lower
 * snake_case, never renamed. A custom policy adds its own as `policy:<code>`.
 */
export const REASON_CODES = {
  agent_not_active: 'The agent is paused or revoked.',
  binding_not_found: 'No binding matches the credential reference or binding id for this processor.',
  binding_not_active: 'The credential binding is suspended or revoked.',
  processor_mismatch: 'The binding named by id belongs to another processor.',
  authority_not_found: 'The agent has no spending authority for the request.',
  authority_not_active: 'The spending authority is paused or revoked.',
  authority_not_yet_valid: 'The spending authority is not valid before valid_from.',
  authority_expired: 'The spending authority is not valid from valid_until on.',
  currency_not_allowed: "The currency differs from the authority's currency.",
  mcc_blocked: 'The merchant category code is on the block list.',
  mcc_not_allowed: 'The merchant category code is missing or not on the allow list.',
  merchant_blocked: 'The merchant id is on the block list.',
  merchant_not_allowed: 'The merchant id is missing or not on the allow list.',
  country_not_allowed: 'The merchant country is missing or not on the allow list.',
  amount_invalid: 'The amount is zero or negative.',
  per_transaction_limit_exceeded: 'The amount exceeds the per-transaction limit.',
  daily_limit_exceeded: 'The amount would exceed the daily limit.',
  weekly_limit_exceeded: 'The amount would exceed the weekly limit.',
  monthly_limit_exceeded: 'The amount would exceed the monthly limit.',
  total_limit_exceeded: 'The amount would exceed the lifetime total limit.',
  velocity_limit_exceeded: 'One more transaction would exceed a transaction-count limit.',
  limit_exceeded_concurrent: 'The policy allowed it, but concurrent authorizations used the budget first.',
  intent_required: 'The authority requires an intent and the request names none.',
  intent_not_found: 'The named intent does not exist or belongs to another agent.',
  intent_not_approved: 'The intent is pending approval, denied or cancelled.',
  intent_amount_mismatch: "The amount or currency does not fit the intent's remaining amount.",
  intent_merchant_mismatch: "The merchant differs from the intent's merchant.",
  intent_expired: 'The intent has expired.',
  intent_consumed: 'The intent is single-use and already used, or was used concurrently.',
  step_up_required: 'The amount is above the step-up threshold and needs human confirmation.',
  partially_approved: 'Only part of the amount was approved (approved_amount).',
  human_approved: 'A human approved this payment (the approval_id it named) after a STEP_UP.',
  approval_not_found: 'The named approval does not exist or belongs to another org.',
  approval_pending: 'The named approval has not been approved yet.',
  approval_declined: 'The named approval was declined.',
  approval_expired: 'The named approval has expired.',
  approval_already_used: 'The named approval was already used by another authorization (it is single-use).',
  approval_agent_mismatch: "The agent differs from the stepped-up authorization's agent.",
  approval_merchant_mismatch: "The merchant differs from the stepped-up authorization's merchant.",
  approval_amount_exceeded: 'The amount is above the approved amount, or the currency differs.',
  stand_in_store_unavailable:
    "The store was unavailable or the authorize deadline ran out: the authority's stand-in rule decided.",
  policy_error: "The org's own policy threw or returned an invalid decision; it never approves.",
} as const;

/** A built-in reason code. */
export type ReasonCode = keyof typeof REASON_CODES;
