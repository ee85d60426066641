import type { Collection, Document, MongoClient } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import type { BridgeKind, BridgeRecord, BridgeStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { embedDrafts, NOT_DELETED, purgeSpentTombstones, pushDrafts, TOMBSTONE_FIELD } from './audit-outbox.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** The collection of bridge records, next to the adapter's in the same database. */
export const BRIDGE_COLLECTION_NAME = 'bridges';

/**
 * The bridge storage's collections whose documents carry audit drafts (see audit-outbox.ts): the
 * MongoAdapter of the same database lists and acknowledges them, creates their marker index and deletes
 * their tombstones once acknowledged.
 */
export const BRIDGE_DRAFT_CARRIERS = [BRIDGE_COLLECTION_NAME] as const;

const idOf = (orgId: string, kind: BridgeKind) => `${orgId}/${kind}`;

/**
 * {@link BridgeStorage} on MongoDB: one document per org and processor kind, `_id` = `<org_id>/<kind>` (so a
 * second create is a duplicate key), `replace` an `updateOne` filtered on `version` (compare-and-set). Driver
 * errors become StorageError the way the adapter maps them; after `close()` every call is `unavailable`.
 *
 * Audit: a write's drafts are embedded in the bridge document in the same single-document write (see
 * audit-outbox.ts; `bridges` is one of the MongoAdapter's draft carriers). A deletion with drafts is a
 * tombstone (`_deleted` set and the drafts pushed in one write), hidden from every read and deleted by the
 * adapter's ack once its drafts are linked. Registering again while the tombstone waits revives that
 * document in one conditional write (its pending drafts kept, the new ones pushed), so a delete followed by
 * a new registration never waits for the chainer.
 */
export class MongoBridgeStorage implements BridgeStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly rows: Collection<Document>;
  private closed = false;

  constructor(options: ConnectionOptions = {}) {
    const connection = openConnection(options, 'MongoBridgeStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.rows = connection.db.collection(BRIDGE_COLLECTION_NAME);
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB bridge storage', fn);
  }

  /** Every query is by `_id` (the adapter creates the outbox marker index); tombstones a crash left are purged. */
  init(): Promise<void> {
    return this.run(async () => {
      await purgeSpentTombstones(this.rows);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    return this.run(async () => {
      const doc = await this.rows.findOne({ _id: idOf(orgId, kind), ...NOT_DELETED } as Document);
      return doc ? toDomain<BridgeRecord>(doc) : null;
    });
  }

  create(record: BridgeRecord, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      const _id = idOf(record.org_id, record.kind);
      try {
        await this.rows.insertOne(embedDrafts({ ...(toStored(record) as Document), _id } as Document, events));
        return;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      // A tombstone of a deletion whose drafts are still pending: revive it with this record.
      const revived = await this.rows.updateOne(
        { _id, [TOMBSTONE_FIELD]: { $exists: true } } as Document,
        pushDrafts({ $set: toStored(record) as Document, $unset: { [TOMBSTONE_FIELD]: '' } }, events),
      );
      if (revived.matchedCount !== 1) {
        throw new StorageError('conflict', `the org already has a ${record.kind} bridge`);
      }
    });
  }

  replace(record: BridgeRecord, expectedVersion: number, events?: readonly AuditDraft[]): Promise<boolean> {
    return this.run(async () => {
      const res = await this.rows.updateOne(
        { _id: idOf(record.org_id, record.kind), version: expectedVersion, ...NOT_DELETED } as Document,
        pushDrafts({ $set: toStored(record) as Document }, events),
      );
      return res.matchedCount === 1;
    });
  }

  /** Without drafts: `deleteOne`. With drafts: a tombstone, one `updateOne` that sets `_deleted` and pushes them. */
  delete(orgId: string, kind: BridgeKind, events?: readonly AuditDraft[]): Promise<boolean> {
    return this.run(async () => {
      const filter = { _id: idOf(orgId, kind), ...NOT_DELETED } as Document;
      if (!events || events.length === 0) return (await this.rows.deleteOne(filter)).deletedCount === 1;
      const res = await this.rows.updateOne(filter, pushDrafts({ $set: { [TOMBSTONE_FIELD]: true } }, events));
      await purgeSpentTombstones(this.rows);
      return res.matchedCount === 1;
    });
  }
}
