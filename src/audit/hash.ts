import { canonicalJson } from '../util/canonical-json.js';
import { sha256Hex } from '../util/hash.js';
import type { AuditEvent } from './types.js';

/**
 * The hashed form of an event: every field except `hash`, `linked_at` (and an adapter's `outbox_ref`),
 * serialized as RFC 8785 canonical JSON (keys sorted by UTF-16 code units, no whitespace, integers only).
 * Documented in the README: an auditor recomputes it with any RFC 8785 library.
 */
export function auditHashInput(e: Omit<AuditEvent, 'hash' | 'linked_at'> & { hash?: string }): string {
  // Keys in ascending order, so canonicalJson takes its native path (see canonical-json.ts).
  return canonicalJson({
    actor: e.actor,
    agent_id: e.agent_id,
    at: e.at,
    id: e.id,
    org_id: e.org_id,
    payload: e.payload,
    prev_hash: e.prev_hash,
    seq: e.seq,
    subject: { id: e.subject.id, kind: e.subject.kind },
    type: e.type,
  });
}

/** Lower-case hex SHA-256 of {@link auditHashInput}. */
export function auditHash(e: Omit<AuditEvent, 'hash' | 'linked_at'> & { hash?: string }): string {
  return sha256Hex(auditHashInput(e));
}
