import type { Collection, Document, MongoClient } from 'mongodb';
import type { BridgeKind, BridgeRecord, BridgeStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** The collection of bridge records, next to the adapter's in the same database. */
export const BRIDGE_COLLECTION_NAME = 'bridges';

const idOf = (orgId: string, kind: BridgeKind) => `${orgId}/${kind}`;

/**
 * {@link BridgeStorage} on MongoDB: one document per org and processor kind, `_id` = `<org_id>/<kind>` (so a
 * second create is a duplicate key), `replace` a `replaceOne` filtered on `version` (compare-and-set). Driver
 * errors become StorageError the way the adapter maps them; after `close()` every call is `unavailable`.
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

  /** Nothing to create: every query is by `_id`. */
  init(): Promise<void> {
    return this.run(async () => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    return this.run(async () => {
      const doc = await this.rows.findOne({ _id: idOf(orgId, kind) } as Document);
      return doc ? toDomain<BridgeRecord>(doc) : null;
    });
  }

  create(record: BridgeRecord): Promise<void> {
    return this.run(async () => {
      try {
        await this.rows.insertOne({
          ...(toStored(record) as Document),
          _id: idOf(record.org_id, record.kind),
        } as Document);
      } catch (err) {
        if (isDuplicateKey(err)) {
          throw new StorageError('conflict', `the org already has a ${record.kind} bridge`, { cause: err });
        }
        throw err;
      }
    });
  }

  replace(record: BridgeRecord, expectedVersion: number): Promise<boolean> {
    return this.run(async () => {
      const res = await this.rows.replaceOne(
        { _id: idOf(record.org_id, record.kind), version: expectedVersion } as Document,
        toStored(record) as Document,
      );
      return res.matchedCount === 1;
    });
  }

  delete(orgId: string, kind: BridgeKind): Promise<boolean> {
    return this.run(async () => {
      const res = await this.rows.deleteOne({ _id: idOf(orgId, kind) } as Document);
      return res.deletedCount === 1;
    });
  }
}
