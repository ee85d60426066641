/**
 * The domain model of Allowance (docs/architecture.md). Amounts are integers in minor units of an ISO-4217
 * currency; times are RFC 3339 UTC strings with millisecond precision; ids are prefixed and random.
 *
 *   Org ──< Agent ──< SpendingAuthority
 *    │        │  └──< Intent
 *    │        └──< CredentialBinding >── Processor
 *    └──< AuthorizationRecord (keyed by processor + authorization_id) ── UsageCounters (per authority)
 */

/** The four outcomes of a decision. */
export type Action = 'ALLOW' | 'ALLOW_WITH_LIMITS' | 'DENY' | 'STEP_UP';

/** An enterprise tenant. */
export interface Org {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  created_at: string;
}

/** A payment processor allowed to call authorize. */
export interface Processor {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  created_at: string;
}

/** Lifecycle of an agent; `revoked` is final. */
export type AgentStatus = 'active' | 'paused' | 'revoked';

/** An AI agent acting for an org. */
export interface Agent {
  id: string;
  org_id: string;
  name: string;
  owner: string | null;
  description: string | null;
  model_provider: string | null;
  model_name: string | null;
  framework: string | null;
  status: AgentStatus;
  metadata: Record<string, string>;
  version: number;
  created_at: string;
  updated_at: string;
}

/** Amount limits in minor units; null means no limit. */
export interface AmountLimits {
  per_transaction: number | null;
  daily: number | null;
  weekly: number | null;
  monthly: number | null;
  total: number | null;
}

/** Transaction-count limits per window; null means no limit. */
export interface VelocityLimits {
  daily: number | null;
  weekly: number | null;
  monthly: number | null;
  total: number | null;
}

/** Merchant constraints; an empty allow list means no restriction. */
export interface MerchantRules {
  allow_mcc: string[];
  block_mcc: string[];
  allow_merchant_ids: string[];
  block_merchant_ids: string[];
  allow_countries: string[];
}

/** Lifecycle of an authority; `revoked` is final. */
export type AuthorityStatus = 'active' | 'paused' | 'revoked';

/**
 * What authorize answers for an authority when the store is unavailable or the authorize deadline runs out:
 * `DENY`, or `ALLOW_UP_TO` approving requests of at most `max_amount` (null with `DENY`).
 */
export interface StandInRule {
  action: 'DENY' | 'ALLOW_UP_TO';
  max_amount: number | null;
}

/** The spending authority delegated to an agent, in one currency. */
export interface SpendingAuthority {
  id: string;
  org_id: string;
  agent_id: string;
  currency: string;
  /** IANA zone in which daily/weekly/monthly windows are calendar periods. */
  time_zone: string;
  limits: AmountLimits;
  velocity: VelocityLimits;
  merchant_rules: MerchantRules;
  valid_from: string | null;
  valid_until: string | null;
  step_up_above: number | null;
  require_intent: boolean;
  partial_approval: boolean;
  /** Stand-in processing (see StandInRule). Default `{action: 'DENY', max_amount: null}`. */
  stand_in: StandInRule;
  /**
   * How long an approval's hold lasts before it expires and its budget is given back, in seconds; null
   * for the engine's default (7 days). Bounded: 1 hour to 31 days.
   */
  hold_period_seconds?: number | null;
  status: AuthorityStatus;
  version: number;
  created_at: string;
  updated_at: string;
}

/** How a processor's card or token maps to an agent and authority. */
export interface CredentialBinding {
  id: string;
  org_id: string;
  agent_id: string;
  authority_id: string;
  processor_id: string;
  credential: { type: string; reference: string; last4?: string; fingerprint?: string };
  status: 'active' | 'suspended' | 'revoked';
  version: number;
  created_at: string;
  updated_at: string;
}

/** A merchant as described by a request or an intent. */
export interface Merchant {
  id?: string;
  name?: string;
  mcc?: string;
  country?: string;
}

/** Stored lifecycle of an intent; `expired` is also derived from `expires_at` on read. */
export type IntentStatus = 'approved' | 'denied' | 'pending_approval' | 'consumed' | 'cancelled' | 'expired';

/** What an agent declared it intends to buy (an AP2-style intent mandate). */
export interface Intent {
  id: string;
  org_id: string;
  agent_id: string;
  authority_id: string | null;
  description: string;
  max_amount: number;
  currency: string;
  merchant: Merchant;
  expires_at: string;
  single_use: boolean;
  status: IntentStatus;
  /** Sum of approved amounts of authorizations that used this intent and were not reversed. */
  consumed_amount: number;
  /**
   * Authorization reservation ids that consumed it, so a consumption is applied and released once; a
   * released id stays, recorded as RELEASED_CONSUMPTION (-1, see the storage contract).
   */
  consumptions: Record<string, number>;
  reason_codes: string[];
  policy_revision: string;
  version: number;
  created_at: string;
  updated_at: string;
}

/**
 * Lifecycle of a human approval opened by a STEP_UP decision: `pending` until the enterprise approves or
 * declines it, `used` once an authorization naming it was approved; `expired` past `expires_at` (also
 * derived on read).
 */
export type ApprovalStatus = 'pending' | 'approved' | 'declined' | 'used' | 'expired';

/**
 * A human approval asked for by a STEP_UP decision, kept inside the authorization record that was
 * stepped up (so it is written atomically with that decision) and changed by compare-and-set on the
 * record's version.
 */
export interface Approval {
  id: string;
  status: ApprovalStatus;
  /** What the stepped-up request asked for. */
  amount: number;
  currency: string;
  merchant: Merchant;
  /** Set when approved: at most `amount`; an authorization naming the approval may use this much or less. */
  approved_amount: number | null;
  expires_at: string;
  /** Who approved or declined (an API key id, or `link:<link id>` for an approval link), and when. */
  decided_by: string | null;
  decided_at: string | null;
  /** The id of the latest approval link issued; only that link decides. */
  link_id: string | null;
  /** The authorization that used it (same processor or another), and when. */
  used_by: { processor_id: string; authorization_id: string } | null;
  used_at: string | null;
  created_at: string;
}

/** Lifecycle of an authorization. */
export type AuthorizationStatus = 'pending' | 'approved' | 'declined' | 'captured' | 'reversed' | 'expired';

/** The signed answer to an authorization request, as returned to the processor. */
export interface Decision {
  decision_id: string;
  authorization_id: string;
  processor_id: string;
  action: Action;
  allowed: boolean;
  amount: number;
  approved_amount: number;
  currency: string;
  reason_codes: string[];
  org_id: string | null;
  agent_id: string | null;
  authority_id: string | null;
  binding_id: string | null;
  intent_id: string | null;
  /** False for a decision of test mode (a test processor's, on test data); inside the proof like every field. */
  livemode: boolean;
  policy_revision: string | null;
  /** The org policy revision layered on the base for this decision; null when the base alone decided. */
  org_policy_revision: string | null;
  simulated: boolean;
  /**
   * True for a stand-in decision: answered from the authority last seen, without the store, because the
   * store was unavailable or the authorize deadline ran out (reason `stand_in_store_unavailable`).
   */
  stand_in: boolean;
  created_at: string;
  /** When the hold of an approval lapses; null when nothing is held. */
  expires_at: string | null;
  /**
   * A STEP_UP decision: the human approval it opened. An approved decision of a request that named an
   * approval: that approval. Null otherwise.
   */
  approval_id: string | null;
  /** A STEP_UP decision: when the approval it opened expires; null otherwise. */
  approval_expires_at: string | null;
  /** SHA-256 (hex) of the canonical JSON of the validated request. */
  request_sha256: string;
  /**
   * Id of the audit event recording this decision (GET /v1/audit); null when there is none: no org to file
   * it under (an unknown binding) or audit switched off in the engine.
   */
  audit_event_id: string | null;
  /** Compact JWS (EdDSA) over every other field of this object. */
  proof: string;
}

/** One processor transaction recorded against an authorization: a capture of part of it, or a refund. */
export interface Settlement {
  /** The processor's id of the transaction (each is applied once). */
  id: string;
  type: 'capture' | 'refund';
  /** Minor units, positive. A refund's is what was given back (at most what was captured and not refunded). */
  amount: number;
  at: string;
}

/**
 * The stored authorization: idempotency record, decision, policy input for replay, and hold state.
 * Keyed by (processor_id, authorization_id).
 */
export interface AuthorizationRecord {
  processor_id: string;
  authorization_id: string;
  org_id: string | null;
  status: AuthorizationStatus;
  request_sha256: string;
  /** Id under which usage and intent consumption are reserved; applied at most once. */
  reservation_id: string;
  /** 1 for the first attempt; a recovered claim is decided again under the next attempt number. */
  attempt: number;
  /**
   * A pending claim's expected end, by its holder's clock: a hint for readers only, never compared with
   * another server's clock (a take-over is judged by how long a server itself saw the record unchanged).
   * Null on a pending claim its holder gave up (taken over at once), and on a decided record.
   */
  lease_until: string | null;
  agent_id: string | null;
  authority_id: string | null;
  intent_id: string | null;
  amount: number;
  approved_amount: number;
  /** The sum of what the processor captured: one capture, or the several captures of `settlements`. */
  captured_amount: number;
  /** The sum of the refunds of `settlements` (absent on records written before refunds existed: 0). */
  refunded_amount?: number;
  /**
   * The processor's transactions recorded against this authorization by `settleCapture` / `settleRefund`,
   * one per processor transaction id, oldest first (absent: none).
   */
  settlements?: Settlement[];
  currency: string;
  /** True while usage is reserved for this authorization and not yet settled or released. */
  hold_open: boolean;
  hold_expires_at: string | null;
  decision: Decision | null;
  policy_input: unknown;
  /** The human approval a STEP_UP decision opened; null or absent otherwise. */
  approval?: Approval | null;
  /** The approval this authorization named (request `approval_id`); null or absent otherwise. */
  approval_id?: string | null;
  /** Incremental authorizations applied to this hold, in order (see `increment`). */
  increments?: AuthorizationIncrement[];
  /**
   * Set when a spooled stand-in decision replaced this record's earlier attempt: what that attempt may
   * have held, given back once the replacement is stored.
   */
  superseded?: {
    org_id: string | null;
    authority_id: string | null;
    intent_id: string | null;
    reservation_id: string;
    /** The attempt the replaced record was at: attempts 1..n may each hold (a taker that died mid-way). */
    attempt?: number;
    /** The approval the replaced attempt named, given back when the stand-in that replaced it declined. */
    approval_id?: string | null;
  } | null;
  version: number;
  created_at: string;
  updated_at: string;
}

/** One increment of an open hold: its own reservation of `amount` more, and its signed decision. */
export interface AuthorizationIncrement {
  increment_id: string;
  reservation_id: string;
  amount: number;
  request_sha256: string;
  decision: IncrementDecision;
}

/** The signed answer to an increment of an approved authorization. */
export interface IncrementDecision {
  decision_id: string;
  authorization_id: string;
  processor_id: string;
  increment_id: string;
  /** False for a test-mode authorization (a processor's test twin, like its decision). */
  livemode: boolean;
  action: 'ALLOW' | 'DENY';
  allowed: boolean;
  /** The increment asked for. */
  amount: number;
  /** The authorization's approved amount after this increment (unchanged when denied). */
  approved_amount: number;
  currency: string;
  reason_codes: string[];
  org_id: string | null;
  authority_id: string | null;
  /** When the hold lapses after this increment. */
  expires_at: string | null;
  created_at: string;
  request_sha256: string;
  /** Compact JWS (EdDSA) over every other field of this object. */
  proof: string;
}

/** Spent amount and transaction count of one window in one period. */
export interface WindowUsage {
  period: string;
  spent: number;
  count: number;
}

/** Usage of every window of an authority for the current periods. */
export interface UsageSnapshot {
  daily: WindowUsage;
  weekly: WindowUsage;
  monthly: WindowUsage;
  total: WindowUsage;
}
