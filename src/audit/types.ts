/**
 * Audit events: every state change and every decision of an org, hash-chained per org.
 *
 * A state change writes an {@link AuditDraft} atomically with the change (the storage adapter keeps it in an
 * outbox, see StorageAdapter). The chainer then links drafts into the org's chain, giving each a `seq`, the
 * `prev_hash` of the event before it and its own `hash` (see hash.ts). The event id is known when the draft is
 * written, so a decision names its `audit_event_id` before it is linked.
 */

/** What an audit event is about: an entity kind and its id. */
export interface AuditSubject {
  /** agent, authority, binding, intent, authorization, credential, token, webhook, simulation, policy. */
  kind: string;
  id: string;
}

/** An audit event as written with the state change, before it is linked into the chain. */
export interface AuditDraft {
  /** `evt_…`, unique; the same id as the linked event. */
  id: string;
  org_id: string;
  /** RFC 3339 UTC with milliseconds: when the change happened. */
  at: string;
  /** One of AUDIT_EVENT_TYPES, e.g. `agent.created`, `authorization.approved`. */
  type: string;
  /** Who caused it: an API credential's key id, `agent:<id>` for agent tokens, or `system`. */
  actor: string;
  subject: AuditSubject;
  /** The agent the event concerns, when there is one (the `agent` filter of GET /v1/audit). */
  agent_id: string | null;
  /** What changed, never a secret. JSON of strings, safe integers, booleans, null, arrays and objects. */
  payload: Record<string, unknown>;
  /**
   * Set by an adapter on drafts returned from `listAuditOutbox` to find them again in `ackAuditOutbox`;
   * opaque, never hashed, never part of a linked event.
   */
  outbox_ref?: string;
}

/** A linked audit event. */
export interface AuditEvent {
  id: string;
  org_id: string;
  /** 1, 2, 3, … per org, no gaps. */
  seq: number;
  at: string;
  type: string;
  actor: string;
  subject: AuditSubject;
  agent_id: string | null;
  payload: Record<string, unknown>;
  /** `hash` of the event at seq - 1; 64 zeros for seq 1. */
  prev_hash: string;
  /** Lower-case hex SHA-256 of the canonical JSON of every other field (see hash.ts). */
  hash: string;
  /** When it was linked (not hashed: linking time is not part of what happened). */
  linked_at: string;
}

/** Filters and paging of {@link StorageAdapter.listAuditEvents}; events come in ascending `seq`. */
export interface AuditQuery {
  /** 1..1000. */
  limit: number;
  /** Only events with `seq > after_seq`. */
  after_seq?: number;
  /** Only events with `seq <= to_seq`. */
  to_seq?: number;
  type?: string;
  agent_id?: string;
  /** Matches `subject.id`. */
  subject_id?: string;
  /** Inclusive lower bound on `at` (RFC 3339 UTC ms, compared as strings). */
  from?: string;
  /** Exclusive upper bound on `at`. */
  to?: string;
}

/** `prev_hash` of the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);
