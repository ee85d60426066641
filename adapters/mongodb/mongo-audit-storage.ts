import type { Document } from 'mongodb';
import type { AuditDraft, AuditEvent, AuditQuery } from '../../src/audit/types.js';
import type { AuditStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { ackOutbox, insertStandalone, listOutbox } from './audit-outbox.js';
import type { MongoBackend } from './mongo-backend.js';
import { BRIDGE_DRAFT_CARRIERS } from './mongo-bridge-storage.js';
import { WEBHOOK_DRAFT_CARRIERS } from './mongo-webhook-storage.js';
import { isDuplicateKey } from './storage-errors.js';
import { fromStored, toStored } from './stored-document.js';

/** The linked event of a stored `audit_events` document (read without `_id`). */
function toAuditEvent(doc: Document): AuditEvent {
  const { _id, ...rest } = fromStored(doc) as Record<string, unknown>;
  return rest as unknown as AuditEvent;
}

/**
 * {@link AuditStorage} on MongoDB. The outbox: drafts embedded by every store in the documents it writes
 * (audit-outbox.ts), read and acknowledged in the backend's draft carriers (`DRAFT_CARRIER_NAMES`), merged
 * with `audit_outbox` (drafts with no state change). The chain: documents of `audit_events` (`_id` = event
 * id, unique (org_id, seq)).
 */
export class MongoAuditStorage implements AuditStorage {
  constructor(private readonly b: MongoBackend) {}

  // Audit: the outbox (see audit-outbox.ts) and the chain (`audit_events`).

  /** Inserts into `audit_outbox`, skipping ids already there or linked (checked just before, by `_id`). */
  appendAuditDrafts(drafts: readonly AuditDraft[]): Promise<void> {
    return this.b.run(async () => {
      if (drafts.length === 0) return;
      const ids = [...new Set(drafts.map((d) => d.id))];
      const linked = await this.b.c.auditEvents
        .find({ _id: { $in: ids } } as Document, { projection: { _id: 1 } })
        .toArray();
      const skip = new Set(linked.map((d) => String(d._id)));
      const fresh = drafts.filter((d) => !skip.has(d.id));
      await insertStandalone(this.b.c.auditOutbox, fresh);
    });
  }

  /**
   * Merges the oldest drafts of `audit_outbox` and of every carrier collection (read on the sparse marker
   * index); each gets `outbox_ref` = its collection and `_id`.
   */
  listAuditOutbox(limit: number): Promise<AuditDraft[]> {
    return this.b.run(() => listOutbox(this.b.c.auditOutbox, this.b.draftCarriers, limit));
  }

  /** Deletes standalone drafts; pulls embedded ones, clearing a document's fields only once its array is empty. */
  ackAuditOutbox(drafts: readonly AuditDraft[]): Promise<void> {
    return this.b.run(() =>
      ackOutbox(this.b.c.auditOutbox, this.b.draftCarriers, drafts, [
        ...WEBHOOK_DRAFT_CARRIERS,
        ...BRIDGE_DRAFT_CARRIERS,
      ]),
    );
  }

  getAuditHead(orgId: string): Promise<AuditEvent | null> {
    return this.b.run(async () => {
      const docs = await this.b.c.auditEvents.find({ org_id: orgId }).sort({ seq: -1 }).limit(1).toArray();
      return docs[0] ? toAuditEvent(docs[0]) : null;
    });
  }

  /**
   * One ordered `insertMany`: a duplicate key (the event id, or (org_id, seq)) is `conflict`, and the
   * events before it stay linked. An event of another org or with a seq that is not a positive integer
   * is refused (`internal`) before anything is written.
   */
  appendAuditEvents(orgId: string, events: readonly AuditEvent[]): Promise<void> {
    return this.b.run(async () => {
      if (events.length === 0) return;
      for (const e of events) {
        if (e.org_id !== orgId) throw new StorageError('internal', `audit event ${e.id} is not of org ${orgId}`);
        if (!Number.isSafeInteger(e.seq) || e.seq < 1) {
          throw new StorageError('internal', `audit event ${e.id} has an invalid seq`);
        }
      }
      try {
        await this.b.c.auditEvents.insertMany(
          events.map((e) => ({ ...(toStored(e) as Document), _id: e.id }) as Document),
          { ordered: true },
        );
      } catch (err) {
        if (isDuplicateKey(err)) {
          throw new StorageError('conflict', `an audit seq or event id of ${orgId} is taken`, { cause: err });
        }
        throw err;
      }
    });
  }

  findLinkedAuditIds(orgId: string, ids: readonly string[]): Promise<string[]> {
    return this.b.run(async () => {
      if (ids.length === 0) return [];
      const docs = await this.b.c.auditEvents
        .find({ _id: { $in: [...new Set(ids)] }, org_id: orgId } as Document, { projection: { _id: 1 } })
        .toArray();
      return docs.map((d) => String(d._id));
    });
  }

  /** Filtered on the org and the query, ascending by seq, on (org_id, seq) or a filter's index. */
  listAuditEvents(orgId: string, query: AuditQuery): Promise<AuditEvent[]> {
    return this.b.run(async () => {
      if (!(query.limit > 0)) return [];
      const filter: Document = { org_id: orgId };
      const seq: Document = {};
      if (query.after_seq !== undefined) seq.$gt = query.after_seq;
      if (query.to_seq !== undefined) seq.$lte = query.to_seq;
      if (Object.keys(seq).length > 0) filter.seq = seq;
      if (query.type !== undefined) filter.type = query.type;
      if (query.agent_id !== undefined) filter.agent_id = query.agent_id;
      if (query.subject_id !== undefined) filter['subject.id'] = query.subject_id;
      const at: Document = {};
      if (query.from !== undefined) at.$gte = query.from;
      if (query.to !== undefined) at.$lt = query.to;
      if (Object.keys(at).length > 0) filter.at = at;
      const docs = await this.b.c.auditEvents.find(filter).sort({ seq: 1 }).limit(query.limit).toArray();
      return docs.map(toAuditEvent);
    });
  }
}
