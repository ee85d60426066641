/**
 * Types of the policy input and output documents, version 1. They mirror
 * policies/schemas/*.schema.json, which remain the source of truth: times are
 * RFC 3339 UTC strings with milliseconds and a Z suffix, amounts are integers in
 * minor units, a null limit means no limit, an empty allow list means no restriction.
 */

/** RFC 3339 UTC time with milliseconds, e.g. `2026-11-23T10:00:00.000Z`. */
export type PolicyTime = string;

/** Merchant as reported by the processor or named in an intent. */
export interface PolicyMerchant {
  id?: string;
  name?: string;
  /** Four-digit merchant category code. */
  mcc?: string;
  /** ISO 3166-1 alpha-2 country code. */
  country?: string;
}

/** A limit in minor units (or a count for velocity); null means unlimited. */
export type PolicyLimit = number | null;

/** Names of the usage windows, in order. */
export type PolicyWindow = 'daily' | 'weekly' | 'monthly' | 'total';

/** The spending authority as seen by a policy. */
export interface PolicyAuthority {
  id: string;
  status: 'active' | 'paused' | 'revoked';
  currency: string;
  time_zone: string;
  limits: { per_transaction: PolicyLimit } & Record<PolicyWindow, PolicyLimit>;
  velocity: Record<PolicyWindow, PolicyLimit>;
  merchant_rules: {
    allow_mcc: string[];
    block_mcc: string[];
    allow_merchant_ids: string[];
    block_merchant_ids: string[];
    allow_countries: string[];
  };
  valid_from: PolicyTime | null;
  valid_until: PolicyTime | null;
  step_up_above: PolicyLimit;
  require_intent: boolean;
  partial_approval: boolean;
  version: number;
}

/** The agent as seen by a policy. */
export interface PolicyAgent {
  id: string;
  status: 'active' | 'paused' | 'revoked';
  name: string;
  owner: string | null;
  model_provider: string | null;
  model_name: string | null;
  framework: string | null;
  metadata: Record<string, string>;
}

/** Usage of one window for the current period. */
export interface PolicyUsageWindow {
  /** daily YYYY-MM-DD, weekly GGGG-Www, monthly YYYY-MM, total `all`; in the authority's time zone. */
  period: string;
  spent: number;
  count: number;
}

/** Usage counters of the authority, one per window. */
export type PolicyUsage = Record<PolicyWindow, PolicyUsageWindow>;

/** An intent as resolved by the engine for a payment. */
export interface PolicyIntent {
  id: string;
  agent_id: string;
  status: 'approved' | 'denied' | 'pending_approval' | 'consumed' | 'cancelled' | 'expired';
  max_amount: number;
  currency: string;
  consumed_amount: number;
  merchant: PolicyMerchant;
  expires_at: PolicyTime;
  single_use: boolean;
}

/** The wall-clock time of `now` in the authority's time zone. */
export interface PolicyLocalTime {
  /** ISO weekday: 1 Monday … 7 Sunday. */
  weekday: number;
  /** Minutes since local midnight, 0–1439. */
  minute_of_day: number;
}

/** Input of `allowance/spend/decision` (spend-input.schema.json). */
export interface SpendPolicyInput {
  version: '1';
  now: PolicyTime;
  /**
   * `now` on the authority's wall clock (WASM has no time builtins). The engine always sets it; inputs stored
   * before it existed lack it, and replay derives it from `now` and the authority's time zone.
   */
  local_time?: PolicyLocalTime;
  org: { id: string };
  request: {
    authorization_id: string;
    processor_id: string;
    amount: number;
    currency: string;
    merchant: PolicyMerchant;
    channel: 'online' | 'in_store' | 'recurring';
    intent_id: string | null;
    partial_approval_supported: boolean;
  };
  agent: PolicyAgent;
  authority: PolicyAuthority;
  binding: {
    id: string;
    status: 'active' | 'suspended' | 'revoked';
    processor_id: string;
    credential: { type: string; reference: string; last4?: string; fingerprint?: string };
  };
  usage: PolicyUsage;
  intent: PolicyIntent | null;
}

/** Input of `allowance/intent/decision` (intent-input.schema.json). */
export interface IntentPolicyInput {
  version: '1';
  now: PolicyTime;
  org: { id: string };
  request: {
    agent_id: string;
    description: string;
    max_amount: number;
    currency: string;
    merchant: PolicyMerchant;
    expires_at: PolicyTime;
    single_use: boolean;
  };
  agent: PolicyAgent;
  authority: PolicyAuthority;
  usage: PolicyUsage;
}

/** What a policy decided. */
export type PolicyAction = 'ALLOW' | 'ALLOW_WITH_LIMITS' | 'DENY' | 'STEP_UP';

/** Output of both entry points (decision-output.schema.json). */
export interface PolicyDecision {
  action: PolicyAction;
  /** Sorted, unique reason codes; `policy:<code>` for a custom policy's own. */
  reasons: string[];
  /** Present exactly for ALLOW_WITH_LIMITS: positive and below the requested amount. */
  approved_amount?: number;
}
