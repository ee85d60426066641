import type { Collection, Db, Document, MongoClient } from 'mongodb';
import type { AuditDraft, AuditEvent, AuditQuery } from '../../src/audit/types.js';
import type {
  AuthorizationExpectation,
  ClaimResult,
  ListQuery,
  Page,
  ReleaseResult,
  Reservation,
  ReserveResult,
  StorageAdapter,
} from '../../src/storage/index.js';
import { RELEASED_CONSUMPTION, StorageError } from '../../src/storage/index.js';
import type {
  Agent,
  AuthorizationRecord,
  CredentialBinding,
  Intent,
  Org,
  Processor,
  SpendingAuthority,
  UsageSnapshot,
} from '../../src/types.js';
import {
  AUDIT_PENDING_INDEX,
  ackOutbox,
  embedDrafts,
  insertStandalone,
  listOutbox,
  pushDrafts,
} from './audit-outbox.js';
import { type Collections, DRAFT_CARRIERS, indexPlan, openCollections } from './collections.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { CREDENTIAL_COLLECTION_NAMES } from './mongo-credential-storage.js';
import { POLICY_ANALYSIS_DRAFT_CARRIERS } from './mongo-policy-analysis-storage.js';
import { POLICY_DRAFT_CARRIERS } from './mongo-policy-storage.js';
import { WEBHOOK_DRAFT_CARRIERS } from './mongo-webhook-storage.js';
import { type Attempt, withRetries } from './retry.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { encodeKey, fromStored, toDomain, toStored } from './stored-document.js';
import { UsageLedger } from './usage-ledger.js';

/** Options of {@link MongoAdapter}. */
export interface MongoAdapterOptions extends ConnectionOptions {
  /** Tries of a conditional write that keeps losing races before `unavailable`. Default 100. */
  maxAttempts?: number;
  /** How long ended reservation ids are remembered, so a late replay changes nothing. Default 35 days. */
  reservationRetentionMs?: number;
}

const DEFAULT_MAX_ATTEMPTS = 100;
const DEFAULT_RETENTION_MS = 35 * 86_400_000;

type Entity = Agent | SpendingAuthority | CredentialBinding | Intent;
type EntityCollection = 'agents' | 'authorities' | 'bindings' | 'intents';

function authKey(processorId: string, authorizationId: string): string {
  return `${processorId}\u0000${authorizationId}`;
}

function listKey(createdAt: string, processorId: string, authorizationId: string): string {
  return `${createdAt}\u0000${authorizationId}\u0000${processorId}`;
}

function withoutUndefined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function entityDoc(entity: Entity): Document {
  const doc = toStored(entity) as Document;
  doc._id = entity.id;
  const binding = entity as CredentialBinding;
  if ('credential' in binding && binding.status !== 'revoked') {
    doc.ref_key = `${binding.processor_id}\u0000${binding.credential.reference}`;
  }
  return doc;
}

/** The linked event of a stored `audit_events` document (read without `_id`). */
function toAuditEvent(doc: Document): AuditEvent {
  const { _id, ...rest } = fromStored(doc) as Record<string, unknown>;
  return rest as unknown as AuditEvent;
}

function authorizationDoc(record: AuthorizationRecord): Document {
  const doc = toStored(record) as Document;
  doc._id = authKey(record.processor_id, record.authorization_id);
  doc.list_key = listKey(record.created_at, record.processor_id, record.authorization_id);
  return doc;
}

/**
 * The MongoDB storage adapter, on the official driver. Every guarantee of the contract holds across
 * any number of servers sharing the database, using only single-document atomic writes (no
 * transactions): unique `_id`s and a sparse unique index for insert-if-absent, conditional
 * `updateOne`/`findOneAndUpdate` for versioned updates, intent consumption and usage holds (see
 * {@link UsageLedger}). `init()` creates the indexes (see `indexPlan`). Driver errors become
 * StorageError: duplicate key → `conflict`, unreachable or timed out → `unavailable`, else `internal`;
 * after `close()` every call is `unavailable`.
 *
 * Audit: a write's drafts are embedded in the document it writes, in the same single-document write
 * (see audit-outbox.ts); `listAuditOutbox` merges them, from this adapter's collections and from the
 * MongoCredentialStorage's and the MongoWebhookStorage's (`webhook_endpoints`) in the same database, with
 * `audit_outbox`. Linked events are documents of `audit_events` (`_id` = event id, unique (org_id, seq)).
 */
export class MongoAdapter implements StorageAdapter {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly db: Db;
  private readonly c: Collections;
  private readonly ledger: UsageLedger;
  /** Every collection whose documents can carry drafts: the adapter's, the credential and webhook storages'. */
  private readonly draftCarriers: Collection<Document>[];
  private readonly maxAttempts: number;
  private readonly retentionSeconds: number;
  private closed = false;

  constructor(options: MongoAdapterOptions = {}) {
    const connection = openConnection(options, 'MongoAdapter');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.db = connection.db;
    this.c = openCollections(this.db);
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.retentionSeconds = Math.ceil((options.reservationRetentionMs ?? DEFAULT_RETENTION_MS) / 1000);
    this.ledger = new UsageLedger(this.c.usage, this.c.reservationEnds, this.maxAttempts);
    this.draftCarriers = [
      ...DRAFT_CARRIERS.map((name) => this.c[name]),
      ...Object.values(CREDENTIAL_COLLECTION_NAMES).map((name) => this.db.collection(name)),
      ...WEBHOOK_DRAFT_CARRIERS.map((name) => this.db.collection(name)),
      ...POLICY_DRAFT_CARRIERS.map((name) => this.db.collection(name)),
      ...POLICY_ANALYSIS_DRAFT_CARRIERS.map((name) => this.db.collection(name)),
    ];
  }

  /** The database the adapter works in. */
  get databaseName(): string {
    return this.db.databaseName;
  }

  /** The client the adapter talks through (closed by `close()` when the adapter created it). */
  get mongoClient(): MongoClient {
    return this.client;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB adapter', fn);
  }

  init(): Promise<void> {
    return this.run(async () => {
      for (const [name, indexes] of indexPlan(this.retentionSeconds)) {
        await this.c[name].createIndexes(indexes);
      }
      // The credential, webhook, policy and policy analysis storages' collections carry drafts too; the outbox
      // read needs their marker index.
      for (const name of [
        ...Object.values(CREDENTIAL_COLLECTION_NAMES),
        ...WEBHOOK_DRAFT_CARRIERS,
        ...POLICY_DRAFT_CARRIERS,
        ...POLICY_ANALYSIS_DRAFT_CARRIERS,
      ]) {
        await this.db.collection(name).createIndexes([AUDIT_PENDING_INDEX]);
      }
      await this.db.command({ ping: 1 });
    });
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.db.command({ ping: 1 });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  // Orgs and processors: global, keyed by id.

  private insertById(
    coll: Collection<Document>,
    row: Org | Processor,
    what: string,
    events?: readonly AuditDraft[],
  ): Promise<void> {
    return this.run(async () => {
      try {
        await coll.insertOne(embedDrafts({ ...(toStored(row) as Document), _id: row.id }, events));
      } catch (err) {
        if (isDuplicateKey(err)) throw new StorageError('conflict', `duplicate ${what} ${row.id}`, { cause: err });
        throw err;
      }
    });
  }

  private getById<T>(coll: Collection<Document>, id: string): Promise<T | null> {
    return this.run(async () => {
      const doc = await coll.findOne({ _id: id } as Document);
      return doc ? toDomain<T>(doc) : null;
    });
  }

  insertOrg(org: Org, events?: readonly AuditDraft[]): Promise<void> {
    return this.insertById(this.c.orgs, org, 'org', events);
  }
  getOrg(id: string): Promise<Org | null> {
    return this.getById<Org>(this.c.orgs, id);
  }
  insertProcessor(processor: Processor): Promise<void> {
    return this.insertById(this.c.processors, processor, 'processor');
  }
  getProcessor(id: string): Promise<Processor | null> {
    return this.getById<Processor>(this.c.processors, id);
  }

  // Tenant-owned entities: `_id` is the id, every read and write also matches `org_id`.

  private insertEntity(name: EntityCollection, entity: Entity, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      try {
        await this.c[name].insertOne(embedDrafts(entityDoc(entity), events));
      } catch (err) {
        if (isDuplicateKey(err))
          throw new StorageError('conflict', `${entity.id} or a unique key is taken`, { cause: err });
        throw err;
      }
    });
  }

  private getEntity<T extends Entity>(name: EntityCollection, orgId: string, id: string): Promise<T | null> {
    return this.run(async () => {
      const doc = await this.c[name].findOne({ _id: id, org_id: orgId } as Document);
      return doc ? toDomain<T>(doc) : null;
    });
  }

  /**
   * Read, check the version, then write every field of the new object only if the version is still the
   * one read (a `$set` of the whole object, not a replace, so drafts pending in the document stay), with
   * the drafts pushed in the same update.
   */
  private updateEntity<T extends Entity>(
    name: EntityCollection,
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<T>,
    events?: readonly AuditDraft[],
  ): Promise<T | null> {
    return this.run(async () => {
      const filter = { _id: id, org_id: orgId } as Document;
      const doc = await this.c[name].findOne(filter);
      if (!doc) return null;
      const row = toDomain<T>(doc);
      if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
      const next = {
        ...row,
        ...withoutUndefined(patch),
        id: row.id,
        org_id: row.org_id,
        version: row.version + 1,
      } as T;
      const { _id, ...fields } = entityDoc(next);
      const update: Document = { $set: fields };
      // A binding's live reference key goes when it is revoked.
      if (doc.ref_key !== undefined && fields.ref_key === undefined) update.$unset = { ref_key: '' };
      let res: { matchedCount: number };
      try {
        res = await this.c[name].updateOne({ ...filter, version: expectVersion }, pushDrafts(update, events));
      } catch (err) {
        if (isDuplicateKey(err)) throw new StorageError('conflict', 'a unique key is taken', { cause: err });
        throw err;
      }
      if (res.matchedCount === 0) throw new StorageError('conflict', `version of ${id} moved`);
      return next;
    });
  }

  private listEntities<T extends Entity>(name: EntityCollection, orgId: string, query: ListQuery): Promise<Page<T>> {
    return this.run(async () => {
      const filter: Document = { org_id: orgId };
      if (query.status !== undefined) filter.status = query.status;
      if (query.agent_id !== undefined) filter.agent_id = query.agent_id;
      if (query.cursor !== undefined) filter.id = { $lt: query.cursor };
      const docs = await this.c[name]
        .find(filter)
        .sort({ org_id: 1, id: -1 })
        .limit(query.limit + 1)
        .toArray();
      const items = docs.slice(0, query.limit).map((d) => toDomain<T>(d));
      const last = items[items.length - 1];
      return { items, next_cursor: docs.length > query.limit && last ? last.id : null };
    });
  }

  insertAgent(agent: Agent, events?: readonly AuditDraft[]): Promise<void> {
    return this.insertEntity('agents', agent, events);
  }
  getAgent(orgId: string, id: string): Promise<Agent | null> {
    return this.getEntity<Agent>('agents', orgId, id);
  }
  listAgents(orgId: string, query: ListQuery): Promise<Page<Agent>> {
    return this.listEntities<Agent>('agents', orgId, query);
  }
  updateAgent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Agent>,
    events?: readonly AuditDraft[],
  ): Promise<Agent | null> {
    return this.updateEntity<Agent>('agents', orgId, id, expectVersion, patch, events);
  }

  insertAuthority(authority: SpendingAuthority, events?: readonly AuditDraft[]): Promise<void> {
    return this.insertEntity('authorities', authority, events);
  }
  getAuthority(orgId: string, id: string): Promise<SpendingAuthority | null> {
    return this.getEntity<SpendingAuthority>('authorities', orgId, id);
  }
  listAuthorities(orgId: string, query: ListQuery): Promise<Page<SpendingAuthority>> {
    return this.listEntities<SpendingAuthority>('authorities', orgId, query);
  }
  updateAuthority(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<SpendingAuthority>,
    events?: readonly AuditDraft[],
  ): Promise<SpendingAuthority | null> {
    return this.updateEntity<SpendingAuthority>('authorities', orgId, id, expectVersion, patch, events);
  }

  insertBinding(binding: CredentialBinding, events?: readonly AuditDraft[]): Promise<void> {
    return this.insertEntity('bindings', binding, events);
  }
  getBinding(orgId: string, id: string): Promise<CredentialBinding | null> {
    return this.getEntity<CredentialBinding>('bindings', orgId, id);
  }
  findBinding(processorId: string, key: { id: string } | { reference: string }): Promise<CredentialBinding | null> {
    return this.run(async () => {
      const filter = 'id' in key ? { _id: key.id } : { ref_key: `${processorId}\u0000${key.reference}` };
      const doc = await this.c.bindings.findOne(filter as Document);
      return doc ? toDomain<CredentialBinding>(doc) : null;
    });
  }
  listBindings(orgId: string, query: ListQuery): Promise<Page<CredentialBinding>> {
    return this.listEntities<CredentialBinding>('bindings', orgId, query);
  }
  updateBinding(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<CredentialBinding>,
    events?: readonly AuditDraft[],
  ): Promise<CredentialBinding | null> {
    return this.updateEntity<CredentialBinding>('bindings', orgId, id, expectVersion, patch, events);
  }

  insertIntent(intent: Intent, events?: readonly AuditDraft[]): Promise<void> {
    return this.insertEntity('intents', intent, events);
  }
  getIntent(orgId: string, id: string): Promise<Intent | null> {
    return this.getEntity<Intent>('intents', orgId, id);
  }
  listIntents(orgId: string, query: ListQuery): Promise<Page<Intent>> {
    return this.listEntities<Intent>('intents', orgId, query);
  }
  updateIntent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Intent>,
    events?: readonly AuditDraft[],
  ): Promise<Intent | null> {
    return this.updateEntity<Intent>('intents', orgId, id, expectVersion, patch, events);
  }

  /**
   * One conditional `updateOne` that requires the state it read (approved, same maximum and use, room
   * left, consumption absent); concurrent consumes of a multi-use intent do not retry each other.
   */
  consumeIntent(
    orgId: string,
    id: string,
    consumptionId: string,
    amount: number,
  ): Promise<'consumed' | 'already_applied' | 'rejected' | 'not_found'> {
    const path = `consumptions.${encodeKey(consumptionId)}`;
    return this.run(() =>
      withRetries(
        this.maxAttempts,
        'consumeIntent',
        async (): Promise<Attempt<'consumed' | 'already_applied' | 'rejected' | 'not_found'>> => {
          const doc = await this.c.intents.findOne({ _id: id, org_id: orgId } as Document);
          if (!doc) return { done: 'not_found' };
          const intent = toDomain<Intent>(doc);
          if (Object.hasOwn(intent.consumptions, consumptionId)) return { done: 'already_applied' };
          if (intent.status !== 'approved' || intent.consumed_amount + amount > intent.max_amount)
            return { done: 'rejected' };
          const res = await this.c.intents.updateOne(
            {
              _id: id,
              org_id: orgId,
              status: 'approved',
              single_use: intent.single_use,
              max_amount: intent.max_amount,
              consumed_amount: { $lte: intent.max_amount - amount },
              [path]: { $exists: false },
            } as Document,
            {
              $inc: { consumed_amount: amount, version: 1 },
              $set: { [path]: amount, status: intent.single_use ? 'consumed' : 'approved' },
            },
          );
          return res.modifiedCount === 1 ? { done: 'consumed' } : 'retry';
        },
      ),
    );
  }

  releaseIntent(orgId: string, id: string, consumptionId: string, keep?: number): Promise<'released' | 'not_held'> {
    const path = `consumptions.${encodeKey(consumptionId)}`;
    return this.run(() =>
      withRetries(this.maxAttempts, 'releaseIntent', async (): Promise<Attempt<'released' | 'not_held'>> => {
        const doc = await this.c.intents.findOne({ _id: id, org_id: orgId } as Document);
        if (!doc) return { done: 'not_held' };
        const intent = toDomain<Intent>(doc);
        if (!Object.hasOwn(intent.consumptions, consumptionId)) {
          if (keep !== undefined) return { done: 'not_held' };
          // Never consumed: recorded as released, so that a late consume of this id applies nothing.
          const ended = await this.c.intents.updateOne(
            { _id: id, org_id: orgId, [path]: { $exists: false } } as Document,
            { $set: { [path]: RELEASED_CONSUMPTION }, $inc: { version: 1 } },
          );
          return ended.modifiedCount === 1 ? { done: 'not_held' } : 'retry';
        }
        const amount = intent.consumptions[consumptionId] as number;
        if (amount === RELEASED_CONSUMPTION) return { done: 'not_held' };
        if (keep !== undefined) {
          // A capture: the consumption shrinks to what was captured, pinned on its current value.
          const kept = Math.min(keep, amount);
          if (kept === amount) return { done: 'released' };
          const settled = await this.c.intents.updateOne({ _id: id, org_id: orgId, [path]: amount } as Document, {
            $set: { [path]: kept },
            $inc: { consumed_amount: kept - amount, version: 1 },
          });
          return settled.modifiedCount === 1 ? { done: 'released' } : 'retry';
        }
        const res = await this.c.intents.updateOne(
          { _id: id, org_id: orgId, status: intent.status, [path]: amount } as Document,
          {
            $inc: { consumed_amount: -amount, version: 1 },
            $set: { [path]: RELEASED_CONSUMPTION, status: intent.status === 'consumed' ? 'approved' : intent.status },
          },
        );
        return res.modifiedCount === 1 ? { done: 'released' } : 'retry';
      }),
    );
  }

  // Authorizations: `_id` = processor NUL authorization id, so the claim is an insert.

  claimAuthorization(record: AuthorizationRecord, events?: readonly AuditDraft[]): Promise<ClaimResult> {
    return this.run(() =>
      withRetries(this.maxAttempts, 'claimAuthorization', async (): Promise<Attempt<ClaimResult>> => {
        try {
          await this.c.authorizations.insertOne(embedDrafts(authorizationDoc(record), events));
          return { done: { created: true } };
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        const doc = await this.c.authorizations.findOne({
          _id: authKey(record.processor_id, record.authorization_id),
        } as Document);
        return doc ? { done: { created: false, existing: toDomain<AuthorizationRecord>(doc) } } : 'retry';
      }),
    );
  }

  getAuthorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null> {
    return this.run(async () => {
      const doc = await this.c.authorizations.findOne({ _id: authKey(processorId, authorizationId) } as Document);
      return doc ? toDomain<AuthorizationRecord>(doc) : null;
    });
  }

  /** One `findOneAndUpdate` filtered on the version: the hot path of every decision. */
  updateAuthorization(
    processorId: string,
    authorizationId: string,
    expect: AuthorizationExpectation,
    patch: Partial<AuthorizationRecord>,
    events?: readonly AuditDraft[],
  ): Promise<AuthorizationRecord | null> {
    return this.run(async () => {
      const _id = authKey(processorId, authorizationId);
      const {
        processor_id: _p,
        authorization_id: _a,
        version: _v,
        ...rest
      } = withoutUndefined(patch) as Partial<AuthorizationRecord>;
      const set = toStored(rest) as Document;
      if (rest.created_at !== undefined) set.list_key = listKey(rest.created_at, processorId, authorizationId);
      const update: Document = { $inc: { version: 1 } };
      if (Object.keys(set).length > 0) update.$set = set;
      pushDrafts(update, events);
      const doc = await this.c.authorizations.findOneAndUpdate({ _id, version: expect.version } as Document, update, {
        returnDocument: 'after',
      });
      if (doc) return toDomain<AuthorizationRecord>(doc);
      const exists = await this.c.authorizations.findOne({ _id } as Document, { projection: { _id: 1 } });
      if (exists) throw new StorageError('conflict', `version of ${authorizationId} moved`);
      return null;
    });
  }

  listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('org_id', orgId, query);
  }

  listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('processor_id', processorId, query);
  }

  /** Newest first by `list_key` within one org or one processor, on the index (scope, list_key). */
  private listAuthorizationsBy(
    scope: 'org_id' | 'processor_id',
    value: string,
    query: ListQuery,
  ): Promise<Page<AuthorizationRecord>> {
    return this.run(async () => {
      const filter: Document = { [scope]: value };
      if (query.status !== undefined) filter.status = query.status;
      if (query.agent_id !== undefined) filter.agent_id = query.agent_id;
      if (query.cursor !== undefined) filter.list_key = { $lt: query.cursor };
      const docs = await this.c.authorizations
        .find(filter)
        .sort({ [scope]: 1, list_key: -1 })
        .limit(query.limit + 1)
        .toArray();
      const page = docs.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((d) => toDomain<AuthorizationRecord>(d)),
        next_cursor: docs.length > query.limit && last ? String(last.list_key) : null,
      };
    });
  }

  listOpenHolds(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.run(async () => {
      const docs = await this.c.authorizations
        .find({
          hold_open: true,
          $or: [
            { status: 'approved', hold_expires_at: { $ne: null, $lte: before } },
            { status: { $in: ['captured', 'reversed', 'expired', 'declined'] } },
          ],
        })
        .sort({ hold_open: 1, hold_expires_at: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => toDomain<AuthorizationRecord>(d));
    });
  }

  getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
  ): Promise<UsageSnapshot> {
    return this.run(() => this.ledger.snapshot(orgId, authorityId, periods));
  }

  reserveUsage(orgId: string, authorityId: string, reservation: Reservation): Promise<ReserveResult> {
    return this.run(() => this.ledger.reserve(orgId, authorityId, reservation));
  }

  releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    return this.run(() => this.ledger.release(orgId, authorityId, reservationId, keep));
  }

  // Audit: the outbox (see audit-outbox.ts) and the chain (`audit_events`).

  /** Inserts into `audit_outbox`, skipping ids already there or linked (checked just before, by `_id`). */
  appendAuditDrafts(drafts: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      if (drafts.length === 0) return;
      const ids = [...new Set(drafts.map((d) => d.id))];
      const linked = await this.c.auditEvents
        .find({ _id: { $in: ids } } as Document, { projection: { _id: 1 } })
        .toArray();
      const skip = new Set(linked.map((d) => String(d._id)));
      const fresh = drafts.filter((d) => !skip.has(d.id));
      await insertStandalone(this.c.auditOutbox, fresh);
    });
  }

  /**
   * Merges the oldest drafts of `audit_outbox` and of every carrier collection (read on the sparse marker
   * index); each gets `outbox_ref` = its collection and `_id`.
   */
  listAuditOutbox(limit: number): Promise<AuditDraft[]> {
    return this.run(() => listOutbox(this.c.auditOutbox, this.draftCarriers, limit));
  }

  /** Deletes standalone drafts; pulls embedded ones, clearing a document's fields only once its array is empty. */
  ackAuditOutbox(drafts: readonly AuditDraft[]): Promise<void> {
    return this.run(() => ackOutbox(this.c.auditOutbox, this.draftCarriers, drafts, WEBHOOK_DRAFT_CARRIERS));
  }

  getAuditHead(orgId: string): Promise<AuditEvent | null> {
    return this.run(async () => {
      const docs = await this.c.auditEvents.find({ org_id: orgId }).sort({ seq: -1 }).limit(1).toArray();
      return docs[0] ? toAuditEvent(docs[0]) : null;
    });
  }

  /**
   * One ordered `insertMany`: a duplicate key (the event id, or (org_id, seq)) is `conflict`, and the
   * events before it stay linked. An event of another org or with a seq that is not a positive integer
   * is refused (`internal`) before anything is written.
   */
  appendAuditEvents(orgId: string, events: readonly AuditEvent[]): Promise<void> {
    return this.run(async () => {
      if (events.length === 0) return;
      for (const e of events) {
        if (e.org_id !== orgId) throw new StorageError('internal', `audit event ${e.id} is not of org ${orgId}`);
        if (!Number.isSafeInteger(e.seq) || e.seq < 1) {
          throw new StorageError('internal', `audit event ${e.id} has an invalid seq`);
        }
      }
      try {
        await this.c.auditEvents.insertMany(
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
    return this.run(async () => {
      if (ids.length === 0) return [];
      const docs = await this.c.auditEvents
        .find({ _id: { $in: [...new Set(ids)] }, org_id: orgId } as Document, { projection: { _id: 1 } })
        .toArray();
      return docs.map((d) => String(d._id));
    });
  }

  /** Filtered on the org and the query, ascending by seq, on (org_id, seq) or a filter's index. */
  listAuditEvents(orgId: string, query: AuditQuery): Promise<AuditEvent[]> {
    return this.run(async () => {
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
      const docs = await this.c.auditEvents.find(filter).sort({ seq: 1 }).limit(query.limit).toArray();
      return docs.map(toAuditEvent);
    });
  }
}
