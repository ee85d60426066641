import type { Collection, Db, Document, IndexDescription } from 'mongodb';
import { AUDIT_PENDING_INDEX } from './audit-outbox.js';

/** Names of the collections the adapter uses in its database. */
export const COLLECTION_NAMES = {
  orgs: 'orgs',
  processors: 'processors',
  agents: 'agents',
  authorities: 'authorities',
  bindings: 'bindings',
  intents: 'intents',
  authorizations: 'authorizations',
  usage: 'usage',
  reservationEnds: 'reservation_ends',
  usageAdjustments: 'usage_adjustments',
  auditOutbox: 'audit_outbox',
  auditEvents: 'audit_events',
} as const;

/** Collections of the adapter whose documents can carry pending audit drafts (see audit-outbox.ts). */
export const DRAFT_CARRIERS = ['orgs', 'agents', 'authorities', 'bindings', 'intents', 'authorizations'] as const;

/** The adapter's collections, untyped: documents are checked by the code that reads them. */
export type Collections = { [K in keyof typeof COLLECTION_NAMES]: Collection<Document> };

/** Opens every collection of the adapter in `db`. */
export function openCollections(db: Db): Collections {
  const out = {} as Record<keyof typeof COLLECTION_NAMES, Collection<Document>>;
  for (const [key, name] of Object.entries(COLLECTION_NAMES)) {
    out[key as keyof typeof COLLECTION_NAMES] = db.collection(name);
  }
  return out;
}

const byOrg: IndexDescription = { key: { org_id: 1, id: -1 }, name: 'org_id_id' };

/**
 * The indexes `init()` creates (all idempotent). Every entity's `_id` is its id, an authorization's
 * `_id` is `processor_id NUL authorization_id`, a usage document's `_id` is `org_id NUL authority_id`,
 * so those lookups use the `_id` index.
 * - bindings.ref_key: `processor_id NUL credential.reference`, present only while the binding is not
 *   revoked; unique and sparse, so a live reference is taken once and a revoked one frees it
 *   (a partial index would say the same, but not every MongoDB-compatible server has them).
 * - authorizations.list_key: `created_at NUL authorization_id NUL processor_id`, the newest-first order
 *   of an org's list (org_id, list_key) and of a processor's (processor_id, list_key); (hold_open,
 *   hold_expires_at) finds holds to release; (org_id, authorization_id, processor_id) an org's reads by id;
 *   `approval.id` (sparse) the record of an approval, `approval_list_key` (`org_id NUL list_key`, sparse:
 *   only on records with an approval) an org's approvals in list order, (`approval.status`,
 *   `approval.expires_at`) (sparse) the approvals the expiry sweep marks expired.
 * - reservation_ends: the hold records of reservations moved out of their usage document (`_id` =
 *   usage `_id` NUL reservation id; see `UsageLedger`). `ended_at`, set only once a hold ended, has a
 *   TTL index, so ended reservation ids are forgotten after the retention and open holds never are.
 * - audit_pending: sparse, on `_audit_key` of every collection that carries drafts (and of the credential
 *   storage's two and the webhook storage's endpoints, created by `init()` of either store), so the outbox
 *   read only visits documents with pending drafts. audit_outbox (drafts with no state change, `_id` =
 *   draft id) is read by (at, _id).
 * - audit_events (`_id` = event id): unique (org_id, seq), which makes a taken seq a duplicate key; and
 *   (org_id, agent_id, seq), (org_id, subject.id, seq), (org_id, type, seq) for the filtered reads.
 *   Reads by `at` go on (org_id, seq) (`at` grows with seq).
 */
export function indexPlan(retentionSeconds: number): [keyof Collections, IndexDescription[]][] {
  return [
    ['orgs', [AUDIT_PENDING_INDEX]],
    ['agents', [byOrg, AUDIT_PENDING_INDEX]],
    ['authorities', [byOrg, AUDIT_PENDING_INDEX]],
    [
      'bindings',
      [byOrg, { key: { ref_key: 1 }, name: 'ref_key_unique', unique: true, sparse: true }, AUDIT_PENDING_INDEX],
    ],
    ['intents', [byOrg, AUDIT_PENDING_INDEX]],
    [
      'authorizations',
      [
        { key: { org_id: 1, list_key: -1 }, name: 'org_id_list_key' },
        { key: { processor_id: 1, list_key: -1 }, name: 'processor_id_list_key' },
        { key: { hold_open: 1, hold_expires_at: 1 }, name: 'hold_open_expires' },
        { key: { org_id: 1, authorization_id: 1, processor_id: 1 }, name: 'org_id_authorization_id' },
        { key: { 'approval.id': 1 }, name: 'approval_id', sparse: true },
        { key: { approval_list_key: -1 }, name: 'approval_list_key', sparse: true },
        { key: { 'approval.status': 1, 'approval.expires_at': 1 }, name: 'approval_status_expires', sparse: true },
        AUDIT_PENDING_INDEX,
      ],
    ],
    ['reservationEnds', [{ key: { ended_at: 1 }, name: 'ended_at_ttl', expireAfterSeconds: retentionSeconds }]],
    ['auditOutbox', [{ key: { at: 1, _id: 1 }, name: 'at_id' }]],
    [
      'auditEvents',
      [
        { key: { org_id: 1, seq: 1 }, name: 'org_id_seq_unique', unique: true },
        { key: { org_id: 1, agent_id: 1, seq: 1 }, name: 'org_id_agent_id_seq' },
        { key: { org_id: 1, 'subject.id': 1, seq: 1 }, name: 'org_id_subject_id_seq' },
        { key: { org_id: 1, type: 1, seq: 1 }, name: 'org_id_type_seq' },
      ],
    ],
  ];
}
