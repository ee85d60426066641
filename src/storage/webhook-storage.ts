import type { AuditDraft } from '../audit/types.js';
import type { ListQuery, Page } from './adapter.js';

/** `active` endpoints get deliveries; `disabled` ones (too many failed deliveries in a row) get none. */
export type WebhookEndpointStatus = 'active' | 'disabled';

/**
 * A registered webhook endpoint of an org. The signing secret is never stored in clear: `secret_ciphertext`
 * is AES-256-GCM under the master key (the secret box), bound to the endpoint id.
 */
export interface WebhookEndpoint {
  /** `whk_…`. */
  id: string;
  org_id: string;
  url: string;
  /** Audit event types delivered to it, or `["*"]` for every type. */
  events: string[];
  description: string | null;
  status: WebhookEndpointStatus;
  /** `v1.<iv>.<ciphertext>.<tag>`, base64url parts. */
  secret_ciphertext: string;
  /** Last four characters of the secret, for masked listings. */
  secret_last4: string;
  /**
   * Events of the org's audit chain up to this `seq` have been fanned out into deliveries (or skipped as not
   * subscribed). Starts at the chain head when the endpoint is created; moves only forward.
   */
  cursor_seq: number;
  /** Deliveries in a row that ended `failed`; a delivered one resets it. */
  consecutive_failures: number;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

/**
 * A delivery's life: `pending` (due at `next_attempt_at`), `delivering` (leased by a dispatcher until
 * `next_attempt_at`; an expired lease is due again, so a crash mid-attempt retries), then `delivered` or
 * `failed` (gave up after the last attempt, or the endpoint went away or was disabled).
 */
export type WebhookDeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed';

/** One HTTP attempt of a delivery. */
export interface WebhookAttempt {
  /** RFC 3339 UTC ms: when the request was sent. */
  at: string;
  /** The HTTP status the endpoint answered, null when there was no answer. */
  status_code: number | null;
  /** Why the attempt failed without an answer (timeout, refused target, connection error), else null. */
  error: string | null;
  duration_ms: number;
}

/**
 * One audit event to deliver to one endpoint: the persisted outbox of webhook delivery. The id is derived
 * from the endpoint id and the event id, so fanning the same event out again inserts nothing.
 */
export interface WebhookDelivery {
  /** `whd_…`, a function of (endpoint_id, event_id). */
  id: string;
  org_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  event_seq: number;
  /** The JSON body that is sent (signed at each attempt). */
  payload: Record<string, unknown>;
  status: WebhookDeliveryStatus;
  /** Attempts started, including one in progress. */
  attempts: number;
  attempt_log: WebhookAttempt[];
  /** Pending: when it is due. Delivering: when the lease ends. Null once delivered or failed. */
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

/**
 * Storage of webhook endpoints and their deliveries, kept apart from the engine's StorageAdapter because
 * only the HTTP server needs it. Same rules as StorageAdapter: async, tenant-scoped where it takes `orgId`
 * (another org's id is a miss), `null` on a miss, throws only StorageError (`conflict` for a taken id or a
 * stale version, `unavailable`, `internal`), returns copies or frozen objects.
 *
 * Audit outbox: the endpoint writes that are audited (`insertEndpoint`: `webhook.created`, `updateEndpoint`:
 * `webhook.disabled`, `deleteEndpoint`: `webhook.deleted`) take optional `events`, stored atomically with the
 * write, exactly as StorageAdapter's write methods store theirs (both or neither; a write that fails, a
 * `conflict` or a miss returning null, stores none). They go into the audit outbox of the StorageAdapter of
 * the same backend, whose `listAuditOutbox` returns them and `ackAuditOutbox` removes them (memory: the
 * shared MemoryAuditOutbox, see `createMemoryStores`; MongoDB: the same database, see `createMongoStores`).
 *
 * Indexes: endpoints by (org_id, id order) for lists and by (status, id) for the dispatcher; deliveries by
 * (endpoint_id, event_seq order) for the delivery log and by `next_attempt_at` for the due query.
 * Implementations live in adapters/memory and adapters/mongodb.
 */
export interface WebhookStorage {
  /** Creates indexes; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;

  /** `conflict` when the id exists (and `events` are not stored). */
  insertEndpoint(endpoint: WebhookEndpoint, events?: readonly AuditDraft[]): Promise<void>;
  getEndpoint(orgId: string, id: string): Promise<WebhookEndpoint | null>;
  /** An org's endpoints, newest first (ids sort by creation); filter: status. */
  listEndpoints(orgId: string, query: ListQuery): Promise<Page<WebhookEndpoint>>;
  /** `active` endpoints of every org with an id greater than `afterId` (null: from the start), ascending by id. */
  listActiveEndpoints(afterId: string | null, limit: number): Promise<WebhookEndpoint[]>;
  /**
   * Compare-and-set on `version`: applies a shallow patch (never `id`, `org_id` or `version`), increments
   * `version` and returns the new object; `null` on a miss, `conflict` when the version moved. `events` are
   * stored with the change (none on a miss or a conflict).
   */
  updateEndpoint(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<WebhookEndpoint>,
    events?: readonly AuditDraft[],
  ): Promise<WebhookEndpoint | null>;
  /**
   * Compare-and-set on the cursor: sets `cursor_seq` to `toSeq` only when it is `fromSeq` (whatever the
   * version), and increments `version`. True when it moved; false on a miss or when the cursor was elsewhere.
   */
  advanceEndpointCursor(orgId: string, id: string, fromSeq: number, toSeq: number): Promise<boolean>;
  /**
   * Atomically records how a delivery ended: `delivered` sets `consecutive_failures` to 0, `failed` adds one.
   * Sets `updated_at` to `at`, increments `version`, returns the new object or null on a miss.
   */
  recordEndpointOutcome(
    orgId: string,
    id: string,
    outcome: 'delivered' | 'failed',
    at: string,
  ): Promise<WebhookEndpoint | null>;
  /**
   * Deletes an endpoint and its deliveries; returns the deleted endpoint, or null on a miss. Deliveries may
   * outlive their endpoint for a moment (a backend without transactions deletes them second, and a
   * dispatcher may be fanning out); the dispatcher drops those it finds without an endpoint. `events` are
   * stored atomically with the deletion (none on a miss): from then on the endpoint is gone from every read,
   * even where a backend keeps a hidden tombstone to hold the drafts until they are acknowledged.
   */
  deleteEndpoint(orgId: string, id: string, events?: readonly AuditDraft[]): Promise<WebhookEndpoint | null>;

  /** Insert-if-absent by id: deliveries whose id exists are ignored. Returns how many were inserted. */
  insertDeliveries(deliveries: readonly WebhookDelivery[]): Promise<number>;
  getDelivery(orgId: string, id: string): Promise<WebhookDelivery | null>;
  /**
   * An endpoint's deliveries, newest event first (descending `event_seq`); filter: status. The cursor is
   * opaque: pass back `next_cursor`.
   */
  listDeliveries(orgId: string, endpointId: string, query: ListQuery): Promise<Page<WebhookDelivery>>;
  /**
   * Deliveries of every org that are `pending` or `delivering` with `next_attempt_at <= nowIso` (due, or with
   * an expired lease), at most `limit`, earliest `next_attempt_at` first.
   */
  listDueDeliveries(nowIso: string, limit: number): Promise<WebhookDelivery[]>;
  /** The earliest `next_attempt_at` of a pending or delivering delivery, or null when there is none. */
  nextDeliveryDueAt(): Promise<string | null>;
  /**
   * Compare-and-set on `version`, like {@link updateEndpoint} (never changes `id`, `org_id`, `endpoint_id`,
   * `event_id`, `version`); `null` on a miss, `conflict` when the version moved. Taking a lease is this call
   * with the version that was read, so of two dispatchers exactly one gets a due delivery.
   */
  updateDelivery(id: string, expectVersion: number, patch: Partial<WebhookDelivery>): Promise<WebhookDelivery | null>;
}
