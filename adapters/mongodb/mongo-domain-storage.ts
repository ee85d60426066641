import type { Collection, Document, MongoClient } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import type { DomainStorage, OrgDomainsRecord } from '../../src/storage/index.js';
import { embedDrafts, pushDrafts } from './audit-outbox.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** The collection of org domain records, next to the adapter's in the same database. */
export const DOMAIN_COLLECTION_NAME = 'org_domains';

/**
 * The domain storage's collections whose documents carry audit drafts (see audit-outbox.ts): the MongoAdapter
 * of the same database lists and acknowledges them, and creates their marker index.
 */
export const DOMAIN_DRAFT_CARRIERS = [DOMAIN_COLLECTION_NAME] as const;

/**
 * {@link DomainStorage} on MongoDB: one document per org, `_id` = org id. A first save is an insert (a
 * duplicate key is a lost race), later ones an `updateOne` filtered on `version` that `$set`s every field and
 * pushes the drafts in the same single-document write, so drafts pending from an earlier save stay.
 */
export class MongoDomainStorage implements DomainStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly rows: Collection<Document>;
  private closed = false;

  constructor(options: ConnectionOptions = {}) {
    const connection = openConnection(options, 'MongoDomainStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.rows = connection.db.collection(DOMAIN_COLLECTION_NAME);
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB domain storage', fn);
  }

  /** Nothing to create here: every query is by `_id` (the adapter creates the drafts' marker index). */
  init(): Promise<void> {
    return this.run(async () => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  get(orgId: string): Promise<OrgDomainsRecord | null> {
    return this.run(async () => {
      const doc = await this.rows.findOne({ _id: orgId } as Document);
      return doc ? toDomain<OrgDomainsRecord>(doc) : null;
    });
  }

  save(record: OrgDomainsRecord, expectVersion: number | null, events?: readonly AuditDraft[]): Promise<boolean> {
    return this.run(async () => {
      const stored = toStored(record) as Document;
      if (expectVersion === null) {
        try {
          await this.rows.insertOne(embedDrafts({ ...stored, _id: record.org_id }, events));
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      }
      const res = await this.rows.updateOne(
        { _id: record.org_id, version: expectVersion } as Document,
        pushDrafts({ $set: stored }, events),
      );
      return res.matchedCount === 1;
    });
  }
}
