import type { AuditDraft, AuditEvent, AuditQuery } from '../audit/types.js';
import type {
  Agent,
  AuthorizationRecord,
  CredentialBinding,
  Intent,
  Org,
  Processor,
  SpendingAuthority,
  UsageSnapshot,
} from '../types.js';

/**
 * A page of a list. `next_cursor` is the id of the last item when more may follow, else null.
 * Items are ordered newest first (ids sort by creation time).
 */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Paging and filters shared by list methods. */
export interface ListQuery {
  /** 1..100. */
  limit: number;
  /** Return items strictly older than the item with this id. */
  cursor?: string;
  status?: string;
  agent_id?: string;
}

/** A window of a reservation: the period it lands in and the limits it must respect. */
export interface ReservationWindow {
  period: string;
  /** Maximum spent in the period after the reservation; null for none. */
  amount_limit: number | null;
  /** Maximum transaction count in the period after the reservation; null for none. */
  count_limit: number | null;
}

/** A request to hold `amount` against every window of an authority. */
export interface Reservation {
  reservation_id: string;
  amount: number;
  /**
   * Transactions it counts in every window: 1 (the default) for an authorization, 0 for an increment
   * of one (more amount on the same transaction). A full release gives back what it counted.
   */
  count?: 0 | 1;
  windows: {
    daily: ReservationWindow;
    weekly: ReservationWindow;
    monthly: ReservationWindow;
    total: ReservationWindow;
  };
}

/**
 * What the caller of {@link UsageLedger.reserveUsage} already knows; a store may use it to skip a read, and
 * ignore it. Neither hint may weaken the guarantees of `reserveUsage`.
 */
export interface ReserveHints {
  /**
   * The snapshot of this authority the caller read (`getUsage`) for the decision this reserve follows: a
   * store that kept what it read then may start from it instead of reading again. However old it is, a
   * reserve that starts from it must still never pass a limit nor apply an id twice.
   */
  basis?: UsageSnapshot;
  /**
   * No one but this caller can apply the reservation id: it names the first attempt of a claim the caller
   * has just created (inserted, not taken over) in a store that never deletes claims. Someone else may
   * still end it at any moment (a take-over gives back what earlier attempts may hold, possibly before
   * they reserve): a store that skips looking for an earlier application of the id must still refuse to
   * apply an id ended meanwhile.
   */
  unused?: boolean;
}

/**
 * What the caller of {@link UsageLedger.getUsage} will do next; a store may use it, and ignore it.
 */
export interface UsageReadHints {
  /**
   * The id of the reservation a `reserveUsage` starting from this snapshot (`ReserveHints.basis`) will
   * apply. A store may look, in the same read and after reading the usage, for an earlier application of
   * that id, so that the reserve need not look again; the reserve must still never apply an id twice.
   */
  reservationId?: string;
  /**
   * Set by a store that looked `reservationId` up with this read: whether it had been applied (held,
   * settled or released) by then. A store that did not look leaves it undefined, and the caller must then
   * assume it may have been.
   */
  applied?: boolean;
}

/** Outcome of {@link UsageLedger.reserveUsage}. */
export type ReserveResult =
  | { status: 'reserved' }
  | { status: 'already_applied' }
  | { status: 'limit_exceeded'; window: 'daily' | 'weekly' | 'monthly' | 'total'; kind: 'amount' | 'count' };

/**
 * A change of what an authority has spent after its hold ended (a capture that settles later than the hold's
 * release, a refund), applied at most once per `adjustment_id`. `amount` is signed: positive adds spend,
 * negative gives it back. It lands in the windows whose stored period is still the one in `periods` (the
 * periods of the original authorization); a window that has rolled on since is left alone.
 */
export interface UsageAdjustment {
  adjustment_id: string;
  amount: number;
  periods: { daily: string; weekly: string; monthly: string; total: string };
}

/** Outcome of {@link UsageLedger.adjustUsage}. */
export type AdjustResult = { status: 'adjusted' } | { status: 'already_applied' };

/** Outcome of {@link UsageLedger.releaseUsage}: how much spend was given back. */
export type ReleaseResult = { status: 'released'; amount: number } | { status: 'not_held' };

/**
 * The amount an intent's `consumptions` records for an id that was released in full: the id stays
 * recorded, so a late consume of it (an attempt that lost its claim) is `already_applied`.
 */
export const RELEASED_CONSUMPTION = -1;

/** Outcome of {@link AuthorizationStorage.claimAuthorization}. */
export type ClaimResult = { created: true } | { created: false; existing: AuthorizationRecord };

/** Optimistic-concurrency precondition of an authorization update. */
export interface AuthorizationExpectation {
  version: number;
}

/**
 * Rules shared by the storage contracts below ({@link StoreLifecycle}, {@link EntityStorage},
 * {@link AuthorizationStorage}, {@link UsageLedger}, {@link AuditStorage}), and by the other storages of a
 * backend (credentials, webhooks, policies, policy analysis, bridges):
 *
 * - async, and tenant-scoped: a method that takes `orgId` never reads or writes another org's data;
 *   an id of another org is a miss.
 * - a miss returns `null` (or an empty page), never throws.
 * - it throws only {@link StorageError}: `conflict` for a taken unique key or a stale version,
 *   `unavailable` when the backend cannot be reached (retryable), `internal` otherwise.
 * - stored objects are returned as copies: mutating a result never changes the store.
 * - `insert*` fails with `conflict` when the id (or another unique key) exists.
 * - `update*` applies a shallow patch only when the stored `version` equals `expectVersion`, increments
 *   `version`, and returns the new object; it returns `null` on a miss and throws `conflict` when the
 *   version differs. A patch never changes the key: `id` and `org_id` (of an authorization,
 *   `processor_id` and `authorization_id`) keep their stored values.
 *
 * Indexes an adapter needs (the hot path is resolve binding → agent → authority → usage):
 * agents/authorities/bindings/intents by (org_id, id); bindings unique by
 * (processor_id, credential.reference) and by id; authorizations unique by (processor_id, authorization_id),
 * by (org_id, id order) and (processor_id, created_at order) for lists, by (hold_open, hold_expires_at) for
 * expiry, by (org_id, authorization_id), by approval id (unique where present) and by (approval status,
 * approval expiry); usage by authority.
 */

/** Connection lifecycle of a backend's store. */
export interface StoreLifecycle {
  /** Creates indexes and checks connectivity. Called once before use; must be idempotent. */
  init(): Promise<void>;
  /** Resolves when the backend answers; throws `unavailable` otherwise. */
  ping(): Promise<void>;
  /** Releases connections. Further calls may fail. */
  close(): Promise<void>;
}

/**
 * Orgs, processors and the tenant-owned entities (agents, spending authorities, credential bindings,
 * intents), with optimistic concurrency on `version`.
 *
 * Must be atomic: each `insert*`/`update*` together with the audit drafts it is given (both or neither;
 * a write that fails stores none); the version check and the patch of an `update*` (a compare-and-set);
 * the unique keys (`insertBinding`'s non-revoked credential reference per processor); `consumeIntent` and
 * `releaseIntent`, each one conditional write of the intent (status, remaining amount and the recorded
 * consumption ids checked and changed together).
 *
 * Indexes: agents/authorities/bindings/intents by (org_id, id); bindings unique by
 * (processor_id, credential.reference) and by id.
 */
export interface EntityStorage {
  insertOrg(org: Org, events?: readonly AuditDraft[]): Promise<void>;
  getOrg(id: string): Promise<Org | null>;
  insertProcessor(processor: Processor): Promise<void>;
  getProcessor(id: string): Promise<Processor | null>;

  insertAgent(agent: Agent, events?: readonly AuditDraft[]): Promise<void>;
  getAgent(orgId: string, id: string): Promise<Agent | null>;
  listAgents(orgId: string, query: ListQuery): Promise<Page<Agent>>;
  updateAgent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Agent>,
    events?: readonly AuditDraft[],
  ): Promise<Agent | null>;

  insertAuthority(authority: SpendingAuthority, events?: readonly AuditDraft[]): Promise<void>;
  getAuthority(orgId: string, id: string): Promise<SpendingAuthority | null>;
  /** Filters: status, agent_id. */
  listAuthorities(orgId: string, query: ListQuery): Promise<Page<SpendingAuthority>>;
  updateAuthority(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<SpendingAuthority>,
    events?: readonly AuditDraft[],
  ): Promise<SpendingAuthority | null>;

  /** `conflict` also when a non-revoked binding of the same processor has the same credential reference. */
  insertBinding(binding: CredentialBinding, events?: readonly AuditDraft[]): Promise<void>;
  getBinding(orgId: string, id: string): Promise<CredentialBinding | null>;
  /**
   * The binding a processor names, by id or by credential reference, whatever its org: processors are
   * not tenants. Only bindings whose `processor_id` is `processorId` are found by reference; by id any
   * binding is returned so the engine can tell `processor_mismatch` from `binding_not_found`.
   * A revoked binding is not found by reference (its reference may be bound again).
   */
  findBinding(processorId: string, key: { id: string } | { reference: string }): Promise<CredentialBinding | null>;
  /** Filters: status, agent_id. */
  listBindings(orgId: string, query: ListQuery): Promise<Page<CredentialBinding>>;
  updateBinding(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<CredentialBinding>,
    events?: readonly AuditDraft[],
  ): Promise<CredentialBinding | null>;

  insertIntent(intent: Intent, events?: readonly AuditDraft[]): Promise<void>;
  getIntent(orgId: string, id: string): Promise<Intent | null>;
  /** Filters: status, agent_id. */
  listIntents(orgId: string, query: ListQuery): Promise<Page<Intent>>;
  updateIntent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Intent>,
    events?: readonly AuditDraft[],
  ): Promise<Intent | null>;
  /**
   * Atomically consumes `amount` of an approved intent under `consumptionId`: succeeds only when the stored
   * status is `approved`, `consumed_amount + amount <= max_amount`, and `consumptionId` is not yet recorded.
   * Records the consumption, adds to `consumed_amount`, and sets status `consumed` when `single_use`.
   * Replaying a recorded `consumptionId` (applied, or released: see `releaseIntent`) returns
   * `already_applied` and changes nothing.
   */
  consumeIntent(
    orgId: string,
    id: string,
    consumptionId: string,
    amount: number,
  ): Promise<'consumed' | 'already_applied' | 'rejected' | 'not_found'>;
  /**
   * Gives back a recorded consumption. With `keep` undefined (a reversal) it subtracts the whole amount,
   * records the id as {@link RELEASED_CONSUMPTION} (never applied again), and sets a `consumed` single-use
   * intent back to `approved`. With `keep = n` (a capture of n) the consumption becomes n,
   * `consumed_amount` drops by the rest, and the status stays: repeating it changes nothing. A full
   * release of an id that was never consumed (`not_held`) records it as released too: the
   * engine gives back an abandoned attempt's consumption after taking its claim over, possibly before that
   * attempt's consume arrives, which must then apply nothing. Replay-safe: releasing a released id, or an
   * unknown one with `keep`, changes nothing.
   */
  releaseIntent(orgId: string, id: string, consumptionId: string, keep?: number): Promise<'released' | 'not_held'>;
}

/**
 * Authorization records: the idempotency claim of a processor's authorization, its fenced updates, the
 * lists of an org and of a processor, and the open holds the expiry sweep releases.
 *
 * Must be atomic: `claimAuthorization` (insert-if-absent per (processor_id, authorization_id), with its
 * audit drafts; of concurrent claims exactly one wins); `updateAuthorization` (compare-and-set on
 * `version`, with its audit drafts).
 *
 * Indexes: unique by (processor_id, authorization_id), by (org_id, id order) and (processor_id,
 * created_at order) for lists, by (hold_open, hold_expires_at) for expiry, by (org_id, authorization_id)
 * for an org's reads by id, by `approval.id` and by (approval status, approval expiry) for approvals.
 */
export interface AuthorizationStorage {
  /**
   * Insert-if-absent of an authorization by (processor_id, authorization_id): the idempotency claim.
   * Atomic: of any number of concurrent claims of one key, exactly one gets `created: true`;
   * the others get the stored record.
   */
  claimAuthorization(record: AuthorizationRecord, events?: readonly AuditDraft[]): Promise<ClaimResult>;
  getAuthorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null>;
  /**
   * Compare-and-set on `version`; `null` on a miss, `conflict` when the version moved. This is the claim's
   * fencing: a pending claim is taken over by a compare-and-set on the version the taker saw (which also
   * sets the next `attempt`), and an attempt's final write is conditional on the version it claimed, so an
   * attempt whose claim was taken over can never store its decision. No store-side clock is needed.
   */
  updateAuthorization(
    processorId: string,
    authorizationId: string,
    expect: AuthorizationExpectation,
    patch: Partial<AuthorizationRecord>,
    events?: readonly AuditDraft[],
  ): Promise<AuthorizationRecord | null>;
  /**
   * An org's authorizations, newest first by `created_at` (records created at the same instant, possibly
   * under several processors, come in a fixed order and are never skipped); filters: status, agent_id.
   * The cursor is opaque: pass back `next_cursor`.
   */
  listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>>;
  /**
   * A processor's own authorizations, of every org (and those that named no org), newest first by
   * `created_at` (records created at the same instant come in a fixed order and are never skipped);
   * filters: status, agent_id. Never a record of another processor. The cursor is opaque: pass back
   * `next_cursor`.
   */
  listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>>;
  /**
   * Records (of every org) that still hold usage and need a release: `hold_open` and either
   * status `approved` with `hold_expires_at <= before`, or a final status (captured, reversed, expired,
   * declined) left half-done by a crash. At most `limit`, oldest first.
   */
  listOpenHolds(before: string, limit: number): Promise<AuthorizationRecord[]>;
  /**
   * The records of one org whose `authorization_id` is `authorizationId` (one per processor that used the
   * id), at most `limit`, in a fixed order (by processor id). Never a record of another org.
   */
  findOrgAuthorizations(orgId: string, authorizationId: string, limit: number): Promise<AuthorizationRecord[]>;
  /** The record (of any org) whose `approval.id` is `approvalId`, or null. */
  findApproval(approvalId: string): Promise<AuthorizationRecord | null>;
  /**
   * An org's records that carry an approval, newest first like `listAuthorizations`; filters: status (of
   * the approval, as stored), agent_id. The cursor is opaque: pass back `next_cursor`.
   */
  listApprovals(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>>;
  /**
   * Records (of every org) whose approval is `pending` or `approved` with `approval.expires_at <= before`:
   * what the expiry sweep marks expired. At most `limit`, oldest expiry first.
   */
  listDueApprovals(before: string, limit: number): Promise<AuthorizationRecord[]>;
}

/**
 * The usage ledger: what each spending authority has spent and holds per window (daily, weekly, monthly,
 * total), keyed by reservation id.
 *
 * Must be atomic: `reserveUsage` (every window or none, never past a limit under any concurrency, a
 * reservation id applied at most once) and `releaseUsage` (gives back only what is held; a release and a
 * reserve racing on one id come out either reserved-then-released or never applied).
 *
 * Indexes: usage by authority.
 */
export interface UsageLedger {
  /**
   * Usage of an authority in the given periods; a window whose stored period differs counts as empty.
   * A never-used authority has zero usage (not a miss).
   */
  getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
    hints?: UsageReadHints,
  ): Promise<UsageSnapshot>;
  /**
   * Atomically holds `amount` (and `count` transactions, default one) in every window, or nothing: succeeds only when no
   * window would exceed its amount or count limit. Under any concurrency the sum held in a window
   * never exceeds its limit. A window whose stored period is older than the requested one starts
   * from zero. Applying an already-applied `reservation_id` (held, settled or released) changes nothing
   * and returns `already_applied`. A window whose limits are null is not checked: a reservation with no
   * limits at all is recorded whatever the usage (the engine records a spooled stand-in approval so).
   */
  reserveUsage(
    orgId: string,
    authorityId: string,
    reservation: Reservation,
    hints?: ReserveHints,
  ): Promise<ReserveResult>;
  /**
   * Ends a held reservation. With `keep` undefined the whole hold is given back (amount and count);
   * with `keep = n` (a capture) `n` stays spent and the rest is given back. Windows whose period has
   * rolled since the reservation are left alone. Replay-safe: a reservation that is not held returns
   * `not_held` and gives nothing back. With `keep` undefined it still ends that id: a later
   * `reserveUsage` of it is `already_applied` and holds nothing. The engine gives back an abandoned
   * attempt's hold after taking its claim over, possibly before that attempt's reserve arrives; the id
   * release and reserve race on must come out ended either way (released if the reserve won, never
   * applied if the release won).
   */
  releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult>;
  /**
   * Applies `adjustment.amount` to the `spent` of every window whose stored period equals
   * `adjustment.periods` (never below zero; counts and limits untouched: what settled is not refused), once
   * per `adjustment_id`: a replay is `already_applied` and changes nothing, also under concurrency and after
   * a crash part-way. Adjustment ids are a namespace of their own, apart from reservation ids.
   */
  adjustUsage(orgId: string, authorityId: string, adjustment: UsageAdjustment): Promise<AdjustResult>;
}

/**
 * The audit outbox and the per-org audit chain.
 *
 * Outbox: every write method of the other contracts taking `events` stores those drafts atomically with
 * the write (both or neither: a crash never leaves a change without its events nor events without their
 * change); a write that fails (`conflict`, a miss returning null, a claim that finds an existing record)
 * stores none. The chainer later reads them with `listAuditOutbox`, links them with `appendAuditEvents`
 * and removes them with `ackAuditOutbox`.
 *
 * Must be atomic: `appendAuditEvents` per event on a unique (org, seq) and (org, id) (of concurrent
 * chainers appending one seq exactly one wins); `ackAuditOutbox` removes exactly the drafts passed back.
 */
export interface AuditStorage {
  /**
   * Writes audit drafts that come with no stored state change (a simulation, an issued token). Durable when
   * the promise resolves; a draft whose id is already in the outbox or the chain is ignored.
   */
  appendAuditDrafts(drafts: readonly AuditDraft[]): Promise<void>;
  /**
   * Up to `limit` drafts not yet acknowledged, of every org, oldest first by (`at`, `id`); includes drafts
   * written through a CredentialStorage on the same backend. An adapter may set `outbox_ref` on each.
   * A draft may still be returned after it was linked (a crash between link and ack): the chainer checks.
   */
  listAuditOutbox(limit: number): Promise<AuditDraft[]>;
  /** Removes drafts returned by `listAuditOutbox` (pass them back as returned); unknown ones are ignored. */
  ackAuditOutbox(drafts: readonly AuditDraft[]): Promise<void>;
  /** The org's linked event with the highest `seq`, or null for an empty chain. */
  getAuditHead(orgId: string): Promise<AuditEvent | null>;
  /**
   * Links events into the org's chain, in order. Throws `conflict` when an event's `seq` or `id` is already
   * taken in the org (another chainer got there first); events before the conflicting one may stay linked.
   * The adapter does not check hashes: the chainer computes them on top of `getAuditHead`.
   */
  appendAuditEvents(orgId: string, events: readonly AuditEvent[]): Promise<void>;
  /** Which of `ids` are linked events of the org. */
  findLinkedAuditIds(orgId: string, ids: readonly string[]): Promise<string[]>;
  /** The org's linked events matching the query, ascending by `seq`, at most `query.limit`. */
  listAuditEvents(orgId: string, query: AuditQuery): Promise<AuditEvent[]>;
}

/**
 * The storage contract of the engine: every concern above on one backend, so a write and its audit
 * drafts share one atomic operation. An adapter is passed to `createEngine`; `src/` never imports one.
 * The other storages of a backend (credentials, webhooks, policies, policy analysis, bridges) have their
 * own contracts; {@link StorageSet} is what one backend's factory returns.
 */
export interface StorageAdapter
  extends StoreLifecycle,
    EntityStorage,
    AuthorizationStorage,
    UsageLedger,
    AuditStorage {}

/** The methods of {@link StoreLifecycle}. */
export const STORE_LIFECYCLE_METHODS = ['init', 'ping', 'close'] as const satisfies readonly (keyof StoreLifecycle)[];

/** The methods of {@link EntityStorage}. */
export const ENTITY_STORAGE_METHODS = [
  'insertOrg',
  'getOrg',
  'insertProcessor',
  'getProcessor',
  'insertAgent',
  'getAgent',
  'listAgents',
  'updateAgent',
  'insertAuthority',
  'getAuthority',
  'listAuthorities',
  'updateAuthority',
  'insertBinding',
  'getBinding',
  'findBinding',
  'listBindings',
  'updateBinding',
  'insertIntent',
  'getIntent',
  'listIntents',
  'updateIntent',
  'consumeIntent',
  'releaseIntent',
] as const satisfies readonly (keyof EntityStorage)[];

/** The methods of {@link AuthorizationStorage}. */
export const AUTHORIZATION_STORAGE_METHODS = [
  'claimAuthorization',
  'getAuthorization',
  'updateAuthorization',
  'listAuthorizations',
  'listProcessorAuthorizations',
  'listOpenHolds',
  'findOrgAuthorizations',
  'findApproval',
  'listApprovals',
  'listDueApprovals',
] as const satisfies readonly (keyof AuthorizationStorage)[];

/** The methods of {@link UsageLedger}. */
export const USAGE_LEDGER_METHODS = [
  'getUsage',
  'reserveUsage',
  'releaseUsage',
  'adjustUsage',
] as const satisfies readonly (keyof UsageLedger)[];

/** The methods of {@link AuditStorage}. */
export const AUDIT_STORAGE_METHODS = [
  'appendAuditDrafts',
  'listAuditOutbox',
  'ackAuditOutbox',
  'getAuditHead',
  'appendAuditEvents',
  'findLinkedAuditIds',
  'listAuditEvents',
] as const satisfies readonly (keyof AuditStorage)[];

/** Every method of {@link StorageAdapter}, concern by concern. */
export const STORAGE_ADAPTER_METHODS = [
  ...STORE_LIFECYCLE_METHODS,
  ...ENTITY_STORAGE_METHODS,
  ...AUTHORIZATION_STORAGE_METHODS,
  ...USAGE_LEDGER_METHODS,
  ...AUDIT_STORAGE_METHODS,
] as const;
