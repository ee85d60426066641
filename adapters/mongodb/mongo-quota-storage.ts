import type { Collection, Document, MongoClient } from 'mongodb';
import type { AcquireResult, CountedResource, OrgPlan, QuotaRecord, QuotaStorage } from '../../src/storage/index.js';
import { emptyQuotaRecord, StorageError } from '../../src/storage/index.js';
import { NOT_DELETED } from './audit-outbox.js';
import { COLLECTION_NAMES } from './collections.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { WEBHOOK_COLLECTION_NAMES } from './mongo-webhook-storage.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** The collection of org quota records, next to the adapter's in the same database. */
export const QUOTA_COLLECTION_NAME = 'org_quotas';

/** Rounds of read and conditional write an `acquire` makes while the plan keeps changing under it. */
const MAX_ACQUIRE_ROUNDS = 8;

/**
 * {@link QuotaStorage} on MongoDB: one document per org, `_id` = org id. Every change is one single-document
 * conditional update (no transactions): `acquire` is an `$inc` filtered on the plan's limit as read and on
 * the count being below it, `advanceDecisions` an `$inc` of the months filtered on the cursor. A record is
 * created by an upsert of the empty record (a duplicate key from a racing upsert is harmless).
 */
export class MongoQuotaStorage implements QuotaStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly rows: Collection<Document>;
  private readonly agents: Collection<Document>;
  private readonly endpoints: Collection<Document>;
  private closed = false;

  constructor(options: ConnectionOptions = {}) {
    const connection = openConnection(options, 'MongoQuotaStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.rows = connection.db.collection(QUOTA_COLLECTION_NAME);
    this.agents = connection.db.collection(COLLECTION_NAMES.agents);
    this.endpoints = connection.db.collection(WEBHOOK_COLLECTION_NAMES.endpoints);
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB quota storage', fn);
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

  /**
   * Creates the org's record when it has none, starting from the agents (not revoked) and webhook endpoints
   * the org has (an org older than its record). Every creation takes its count before its insert, so a
   * creation racing this count is either counted by it or counts itself on the record; a revocation racing
   * it can leave the count one high, never low. Of racing upserts one inserts; the others change nothing.
   */
  private async ensure(orgId: string, at: string): Promise<void> {
    if (await this.rows.findOne({ _id: orgId } as Document, { projection: { _id: 1 } })) return;
    const [agents, webhooks] = await Promise.all([
      this.agents.countDocuments({ org_id: orgId, status: { $ne: 'revoked' } }),
      this.endpoints.countDocuments({ org_id: orgId, ...NOT_DELETED }),
    ]);
    const { org_id: _o, updated_at: _u, ...empty } = { ...emptyQuotaRecord(orgId, at), agents, webhooks };
    try {
      await this.rows.updateOne(
        { _id: orgId } as Document,
        { $setOnInsert: { ...(toStored(empty) as Document), org_id: orgId, updated_at: at } },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  private async read(orgId: string): Promise<QuotaRecord | null> {
    const doc = await this.rows.findOne({ _id: orgId } as Document);
    return doc ? toDomain<QuotaRecord>(doc) : null;
  }

  get(orgId: string): Promise<QuotaRecord | null> {
    return this.run(() => this.read(orgId));
  }

  setPlan(orgId: string, plan: OrgPlan, at: string): Promise<QuotaRecord> {
    return this.run(async () => {
      await this.ensure(orgId, at);
      const doc = await this.rows.findOneAndUpdate(
        { _id: orgId } as Document,
        {
          $set: {
            'plan.decisions_per_month': plan.decisions_per_month,
            'plan.agents': plan.agents,
            'plan.webhooks': plan.webhooks,
            updated_at: at,
          },
        },
        { returnDocument: 'after' },
      );
      if (!doc) throw new StorageError('internal', `quota record of ${orgId} vanished`);
      return toDomain<QuotaRecord>(doc);
    });
  }

  acquire(orgId: string, resource: CountedResource, at: string): Promise<AcquireResult> {
    return this.run(async () => {
      for (let round = 0; round < MAX_ACQUIRE_ROUNDS; round++) {
        let row = await this.read(orgId);
        if (!row) {
          await this.ensure(orgId, at);
          row = await this.read(orgId);
          if (!row) throw new StorageError('internal', `quota record of ${orgId} vanished`);
        }
        const limit = row.plan[resource] ?? null;
        if (limit !== null && row[resource] >= limit) return { status: 'exceeded', quota: limit, used: row[resource] };
        const filter: Document = { _id: orgId, [`plan.${resource}`]: limit };
        if (limit !== null) filter[resource] = { $lt: limit };
        const doc = await this.rows.findOneAndUpdate(
          filter,
          { $inc: { [resource]: 1 }, $set: { updated_at: at } },
          { returnDocument: 'after' },
        );
        if (doc) return { status: 'acquired', used: (doc as Document)[resource] as number };
        // The plan changed or others took the last ones in between: read again and decide on what is stored.
      }
      throw new StorageError('conflict', `the quota of ${orgId} kept changing; try again`);
    });
  }

  release(orgId: string, resource: CountedResource, at: string): Promise<void> {
    return this.run(async () => {
      await this.rows.updateOne({ _id: orgId, [resource]: { $gt: 0 } } as Document, {
        $inc: { [resource]: -1 },
        $set: { updated_at: at },
      });
    });
  }

  advanceDecisions(
    orgId: string,
    fromSeq: number,
    toSeq: number,
    add: Record<string, number>,
    at: string,
  ): Promise<boolean> {
    return this.run(async () => {
      if (fromSeq === 0) await this.ensure(orgId, at);
      const inc: Document = {};
      for (const [month, n] of Object.entries(add)) {
        if (!/^[0-9]{4}-[0-9]{2}$/.test(month)) throw new StorageError('internal', `not a month: ${month}`);
        inc[`decisions.months.${month}`] = n;
      }
      const update: Document = { $set: { 'decisions.cursor_seq': toSeq, updated_at: at } };
      if (Object.keys(inc).length > 0) update.$inc = inc;
      const res = await this.rows.updateOne({ _id: orgId, 'decisions.cursor_seq': fromSeq } as Document, update);
      return res.matchedCount === 1;
    });
  }
}
