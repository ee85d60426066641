import {
  type Collection,
  type Db,
  type Document,
  type IndexDescription,
  MongoBulkWriteError,
  type MongoClient,
} from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import type { ListQuery, Page, WebhookDelivery, WebhookEndpoint, WebhookStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import {
  AUDIT_PENDING_INDEX,
  embedDrafts,
  NOT_DELETED,
  purgeSpentTombstones,
  pushDrafts,
  TOMBSTONE_FIELD,
} from './audit-outbox.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** Options of {@link MongoWebhookStorage}. */
export interface MongoWebhookStorageOptions extends ConnectionOptions {
  /** How long a delivered or failed delivery stays in the delivery log before a TTL index drops it. Default 30 days. */
  deliveryRetentionMs?: number;
  /** The clock of `purge_at`. Default `Date.now`. */
  now?: () => number;
}

/** Names of the collections of the webhook storage, next to the adapter's in the same database. */
export const WEBHOOK_COLLECTION_NAMES = {
  endpoints: 'webhook_endpoints',
  deliveries: 'webhook_deliveries',
} as const;

/**
 * The webhook storage's collections whose documents carry audit drafts (see audit-outbox.ts): the
 * MongoAdapter of the same database lists and acknowledges them, and creates their marker index.
 */
export const WEBHOOK_DRAFT_CARRIERS = [WEBHOOK_COLLECTION_NAMES.endpoints] as const;

const DEFAULT_RETENTION_MS = 30 * 86_400_000;
const OPEN_STATUSES = ['pending', 'delivering'];

/**
 * The indexes `init()` creates (all idempotent). An endpoint's and a delivery's `_id` is its id (a
 * delivery id is derived from endpoint and event, so re-inserting one is a duplicate key).
 * - webhook_endpoints (org_id, id desc): an org's newest-first list; (status, id): the dispatcher's walk
 *   over active endpoints; audit_pending: sparse, on the marker of documents with pending audit drafts
 *   (see audit-outbox.ts); `_deleted`, sparse: the tombstones of endpoints deleted with audit drafts.
 * - webhook_deliveries (endpoint_id, event_seq desc): the delivery log (and deleting an endpoint's
 *   deliveries); `due_at`, present only while a delivery is pending or delivering (sparse): the due query
 *   and the next due time; `purge_at`, set once a delivery is final: a TTL that ends its retention.
 */
export function webhookIndexPlan(): [keyof typeof WEBHOOK_COLLECTION_NAMES, IndexDescription[]][] {
  return [
    [
      'endpoints',
      [
        { key: { org_id: 1, id: -1 }, name: 'org_id_id' },
        { key: { status: 1, id: 1 }, name: 'status_id' },
        AUDIT_PENDING_INDEX,
        { key: { [TOMBSTONE_FIELD]: 1 }, name: 'deleted', sparse: true },
      ],
    ],
    [
      'deliveries',
      [
        { key: { endpoint_id: 1, event_seq: -1 }, name: 'endpoint_id_event_seq' },
        { key: { due_at: 1 }, name: 'due_at', sparse: true },
        { key: { purge_at: 1 }, name: 'purge_at_ttl', expireAfterSeconds: 0 },
      ],
    ],
  ];
}

/** Fields the storage adds to delivery documents; never part of a WebhookDelivery. */
const DELIVERY_INTERNAL = ['due_at', 'purge_at'] as const;

/** The domain endpoint: `toDomain` drops the audit fields and the tombstone mark. */
function toEndpoint(doc: Document): WebhookEndpoint {
  return toDomain<WebhookEndpoint>(doc);
}

/** The live (not deleted) endpoint `id` of `orgId`. */
function liveEndpoint(orgId: string, id: string): Document {
  return { _id: id, org_id: orgId, ...NOT_DELETED };
}

function toDelivery(doc: Document): WebhookDelivery {
  const out = toDomain<Record<string, unknown>>(doc);
  for (const f of DELIVERY_INTERNAL) delete out[f];
  return out as unknown as WebhookDelivery;
}

function isOpen(status: unknown): boolean {
  return typeof status === 'string' && OPEN_STATUSES.includes(status);
}

/**
 * {@link WebhookStorage} on MongoDB, in the same database as the MongoAdapter (pass its `client` and
 * `dbName`, as with MongoCredentialStorage). Single-document writes only: inserts keyed by `_id` for
 * insert-if-absent, `findOneAndUpdate` filtered on `version` (or on `cursor_seq`) for compare-and-set,
 * `$inc` for failure counts. Deleting an endpoint deletes it, then its deliveries (the dispatcher drops any
 * left behind). Driver errors become StorageError the way the adapter maps them; after `close()` every call
 * is `unavailable`.
 *
 * Audit: the drafts of an endpoint write are embedded in the endpoint document in the same write (see
 * audit-outbox.ts); the MongoAdapter of the same database lists and acknowledges them (`webhook_endpoints`
 * is one of its draft carriers). A deletion with drafts cannot remove the document in the write that stores
 * them, and a draft written elsewhere (`audit_outbox`) would be a second write that a crash can separate
 * from the deletion. So it is a soft delete: one `findOneAndUpdate` sets `_deleted` and pushes the drafts;
 * every read and write here filters tombstones out, so the endpoint is gone at once; its deliveries are
 * deleted right after, as before. The adapter's ack deletes the tombstone once its drafts are acknowledged;
 * tombstones a crash left without drafts are purged by `init()` and by every deletion. A deletion without
 * drafts deletes the document outright.
 */
export class MongoWebhookStorage implements WebhookStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly db: Db;
  private readonly endpoints: Collection<Document>;
  private readonly deliveries: Collection<Document>;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(options: MongoWebhookStorageOptions = {}) {
    const connection = openConnection(options, 'MongoWebhookStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.db = connection.db;
    this.endpoints = this.db.collection(WEBHOOK_COLLECTION_NAMES.endpoints);
    this.deliveries = this.db.collection(WEBHOOK_COLLECTION_NAMES.deliveries);
    this.retentionMs = options.deliveryRetentionMs ?? DEFAULT_RETENTION_MS;
    this.now = options.now ?? Date.now;
  }

  /** The database the storage works in. */
  get databaseName(): string {
    return this.db.databaseName;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB webhook storage', fn);
  }

  init(): Promise<void> {
    return this.run(async () => {
      for (const [name, indexes] of webhookIndexPlan()) {
        await this.db.collection(WEBHOOK_COLLECTION_NAMES[name]).createIndexes(indexes);
      }
      await purgeSpentTombstones(this.endpoints);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  insertEndpoint(endpoint: WebhookEndpoint, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      try {
        await this.endpoints.insertOne(
          embedDrafts({ ...(toStored(endpoint) as Document), _id: endpoint.id } as Document, events),
        );
      } catch (err) {
        if (isDuplicateKey(err))
          throw new StorageError('conflict', `duplicate webhook id ${endpoint.id}`, { cause: err });
        throw err;
      }
    });
  }

  getEndpoint(orgId: string, id: string): Promise<WebhookEndpoint | null> {
    return this.run(async () => {
      const doc = await this.endpoints.findOne(liveEndpoint(orgId, id));
      return doc ? toEndpoint(doc) : null;
    });
  }

  listEndpoints(orgId: string, query: ListQuery): Promise<Page<WebhookEndpoint>> {
    return this.run(async () => {
      const filter: Document = { org_id: orgId, ...NOT_DELETED };
      if (query.status !== undefined) filter.status = query.status;
      if (query.cursor !== undefined) filter.id = { $lt: query.cursor };
      const docs = await this.endpoints
        .find(filter)
        .sort({ org_id: 1, id: -1 })
        .limit(query.limit + 1)
        .toArray();
      const items = docs.slice(0, query.limit).map(toEndpoint);
      const last = items[items.length - 1];
      return { items, next_cursor: docs.length > query.limit && last ? last.id : null };
    });
  }

  listActiveEndpoints(afterId: string | null, limit: number): Promise<WebhookEndpoint[]> {
    return this.run(async () => {
      const filter: Document = { status: 'active', ...NOT_DELETED };
      if (afterId !== null) filter.id = { $gt: afterId };
      const docs = await this.endpoints.find(filter).sort({ status: 1, id: 1 }).limit(limit).toArray();
      return docs.map(toEndpoint);
    });
  }

  /** One `findOneAndUpdate` filtered on the version; the id, org and version are never patched. */
  updateEndpoint(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<WebhookEndpoint>,
    events?: readonly AuditDraft[],
  ): Promise<WebhookEndpoint | null> {
    return this.run(async () => {
      const { id: _i, org_id: _o, version: _v, ...rest } = patch;
      const update: Document = { $inc: { version: 1 } };
      const set = toStored(rest) as Document;
      if (Object.keys(set).length > 0) update.$set = set;
      pushDrafts(update, events);
      const doc = await this.endpoints.findOneAndUpdate(
        { ...liveEndpoint(orgId, id), version: expectVersion },
        update,
        { returnDocument: 'after' },
      );
      if (doc) return toEndpoint(doc);
      const exists = await this.endpoints.findOne(liveEndpoint(orgId, id), { projection: { _id: 1 } });
      if (exists) throw new StorageError('conflict', `version of ${id} moved`);
      return null;
    });
  }

  advanceEndpointCursor(orgId: string, id: string, fromSeq: number, toSeq: number): Promise<boolean> {
    return this.run(async () => {
      const res = await this.endpoints.updateOne(
        { ...liveEndpoint(orgId, id), cursor_seq: fromSeq },
        {
          $set: { cursor_seq: toSeq },
          $inc: { version: 1 },
        },
      );
      return res.matchedCount === 1;
    });
  }

  recordEndpointOutcome(
    orgId: string,
    id: string,
    outcome: 'delivered' | 'failed',
    at: string,
  ): Promise<WebhookEndpoint | null> {
    return this.run(async () => {
      const update: Document =
        outcome === 'delivered'
          ? { $set: { consecutive_failures: 0, updated_at: at }, $inc: { version: 1 } }
          : { $set: { updated_at: at }, $inc: { consecutive_failures: 1, version: 1 } };
      const doc = await this.endpoints.findOneAndUpdate(liveEndpoint(orgId, id), update, {
        returnDocument: 'after',
      });
      return doc ? toEndpoint(doc) : null;
    });
  }

  /**
   * Without drafts: `findOneAndDelete`. With drafts: a soft delete, one `findOneAndUpdate` that sets
   * `_deleted` and pushes them (see the class comment). Then the endpoint's deliveries are deleted.
   */
  deleteEndpoint(orgId: string, id: string, events?: readonly AuditDraft[]): Promise<WebhookEndpoint | null> {
    return this.run(async () => {
      const doc =
        events && events.length > 0
          ? await this.endpoints.findOneAndUpdate(
              liveEndpoint(orgId, id),
              pushDrafts({ $set: { [TOMBSTONE_FIELD]: true }, $inc: { version: 1 } }, events),
              { returnDocument: 'before' },
            )
          : await this.endpoints.findOneAndDelete(liveEndpoint(orgId, id));
      if (!doc) return null;
      await this.deliveries.deleteMany({ endpoint_id: id, org_id: orgId });
      await purgeSpentTombstones(this.endpoints);
      return toEndpoint(doc);
    });
  }

  private deliveryDoc(d: WebhookDelivery): Document {
    const doc = toStored(d) as Document;
    doc._id = d.id;
    if (isOpen(d.status) && d.next_attempt_at !== null) doc.due_at = d.next_attempt_at;
    else doc.purge_at = new Date(this.now() + this.retentionMs);
    return doc;
  }

  /** One unordered `insertMany`; duplicate ids (already fanned out) are skipped, any other error is thrown. */
  insertDeliveries(deliveries: readonly WebhookDelivery[]): Promise<number> {
    return this.run(async () => {
      if (deliveries.length === 0) return 0;
      try {
        const res = await this.deliveries.insertMany(
          deliveries.map((d) => this.deliveryDoc(d)),
          { ordered: false },
        );
        return res.insertedCount;
      } catch (err) {
        if (!(err instanceof MongoBulkWriteError)) {
          if (isDuplicateKey(err) && deliveries.length === 1) return 0;
          throw err;
        }
        const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
        if (errors.length === 0 || !errors.every((e) => e.code === 11000 || e.code === 11001)) throw err;
        return deliveries.length - errors.length;
      }
    });
  }

  getDelivery(orgId: string, id: string): Promise<WebhookDelivery | null> {
    return this.run(async () => {
      const doc = await this.deliveries.findOne({ _id: id, org_id: orgId } as Document);
      return doc ? toDelivery(doc) : null;
    });
  }

  listDeliveries(orgId: string, endpointId: string, query: ListQuery): Promise<Page<WebhookDelivery>> {
    return this.run(async () => {
      const filter: Document = { endpoint_id: endpointId, org_id: orgId };
      if (query.status !== undefined) filter.status = query.status;
      if (query.cursor !== undefined) {
        if (!/^[0-9]{1,15}$/.test(query.cursor)) return { items: [], next_cursor: null };
        filter.event_seq = { $lt: Number(query.cursor) };
      }
      const docs = await this.deliveries
        .find(filter)
        .sort({ endpoint_id: 1, event_seq: -1 })
        .limit(query.limit + 1)
        .toArray();
      const items = docs.slice(0, query.limit).map(toDelivery);
      const last = items[items.length - 1];
      return { items, next_cursor: docs.length > query.limit && last ? String(last.event_seq) : null };
    });
  }

  listDueDeliveries(nowIso: string, limit: number): Promise<WebhookDelivery[]> {
    return this.run(async () => {
      const docs = await this.deliveries
        .find({ due_at: { $lte: nowIso } })
        .sort({ due_at: 1 })
        .limit(limit)
        .toArray();
      return docs.map(toDelivery);
    });
  }

  nextDeliveryDueAt(): Promise<string | null> {
    return this.run(async () => {
      const [doc] = await this.deliveries
        .find({ due_at: { $exists: true } }, { projection: { due_at: 1 } })
        .sort({ due_at: 1 })
        .limit(1)
        .toArray();
      return typeof doc?.due_at === 'string' ? doc.due_at : null;
    });
  }

  /**
   * One `findOneAndUpdate` filtered on the version, which also keeps `due_at` (open deliveries only) and
   * `purge_at` (final ones) in step with the new status. A patch that sets only one of `status` and
   * `next_attempt_at` reads the other first.
   */
  updateDelivery(id: string, expectVersion: number, patch: Partial<WebhookDelivery>): Promise<WebhookDelivery | null> {
    return this.run(async () => {
      const { id: _i, org_id: _o, endpoint_id: _e, event_id: _ev, version: _v, ...rest } = patch;
      const set = toStored(rest) as Document;
      const update: Document = { $inc: { version: 1 } };
      if ('status' in rest || 'next_attempt_at' in rest) {
        let status = rest.status;
        let next = rest.next_attempt_at;
        if (status === undefined || next === undefined) {
          const current = await this.deliveries.findOne({ _id: id } as Document);
          if (!current) return null;
          if (current.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
          status ??= current.status as WebhookDelivery['status'];
          next = next === undefined ? ((current.next_attempt_at ?? null) as string | null) : next;
        }
        if (isOpen(status) && next !== null) {
          set.due_at = next;
          update.$unset = { purge_at: '' };
        } else {
          set.purge_at = new Date(this.now() + this.retentionMs);
          update.$unset = { due_at: '' };
        }
      }
      if (Object.keys(set).length > 0) update.$set = set;
      const doc = await this.deliveries.findOneAndUpdate({ _id: id, version: expectVersion } as Document, update, {
        returnDocument: 'after',
      });
      if (doc) return toDelivery(doc);
      const exists = await this.deliveries.findOne({ _id: id } as Document, { projection: { _id: 1 } });
      if (exists) throw new StorageError('conflict', `version of ${id} moved`);
      return null;
    });
  }
}

/** Builds a {@link MongoWebhookStorage} with its own connection (or the given client); call `init()` before use. */
export function createMongoWebhookStorage(options: MongoWebhookStorageOptions = {}): MongoWebhookStorage {
  return new MongoWebhookStorage(options);
}
