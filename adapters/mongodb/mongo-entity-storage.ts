import type { Collection, Document } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import type { EntityStorage, ListQuery, Page } from '../../src/storage/index.js';
import { RELEASED_CONSUMPTION, StorageError } from '../../src/storage/index.js';
import type { Agent, CredentialBinding, Intent, Org, Processor, SpendingAuthority } from '../../src/types.js';
import { embedDrafts, pushDrafts } from './audit-outbox.js';
import type { MongoBackend } from './mongo-backend.js';
import { type Attempt, withRetries } from './retry.js';
import { isDuplicateKey } from './storage-errors.js';
import { encodeKey, toDomain, toStored, withoutUndefined } from './stored-document.js';

type Entity = Agent | SpendingAuthority | CredentialBinding | Intent;
type EntityCollection = 'agents' | 'authorities' | 'bindings' | 'intents';

function entityDoc(entity: Entity): Document {
  const doc = toStored(entity) as Document;
  doc._id = entity.id;
  const binding = entity as CredentialBinding;
  if ('credential' in binding && binding.status !== 'revoked') {
    doc.ref_key = `${binding.processor_id}\u0000${binding.credential.reference}`;
  }
  return doc;
}

/**
 * {@link EntityStorage} on MongoDB: orgs, processors and the tenant-owned entities, one collection each,
 * with single-document atomic writes (unique `_id`s, a sparse unique index on a live binding's reference,
 * conditional `updateOne` on the version). A write's audit drafts go into the document it writes, in the
 * same write, through audit-outbox.ts (`embedDrafts`, `pushDrafts`).
 */
export class MongoEntityStorage implements EntityStorage {
  constructor(private readonly b: MongoBackend) {}

  // Orgs and processors: global, keyed by id.

  private insertById(
    coll: Collection<Document>,
    row: Org | Processor,
    what: string,
    events?: readonly AuditDraft[],
  ): Promise<void> {
    return this.b.run(async () => {
      try {
        await coll.insertOne(embedDrafts({ ...(toStored(row) as Document), _id: row.id }, events));
      } catch (err) {
        if (isDuplicateKey(err)) throw new StorageError('conflict', `duplicate ${what} ${row.id}`, { cause: err });
        throw err;
      }
    });
  }

  private getById<T>(coll: Collection<Document>, id: string): Promise<T | null> {
    return this.b.run(async () => {
      const doc = await coll.findOne({ _id: id } as Document);
      return doc ? toDomain<T>(doc) : null;
    });
  }

  insertOrg(org: Org, events?: readonly AuditDraft[]): Promise<void> {
    return this.insertById(this.b.c.orgs, org, 'org', events);
  }
  getOrg(id: string): Promise<Org | null> {
    return this.getById<Org>(this.b.c.orgs, id);
  }
  insertProcessor(processor: Processor): Promise<void> {
    return this.insertById(this.b.c.processors, processor, 'processor');
  }
  getProcessor(id: string): Promise<Processor | null> {
    return this.getById<Processor>(this.b.c.processors, id);
  }

  // Tenant-owned entities: `_id` is the id, every read and write also matches `org_id`.

  private insertEntity(name: EntityCollection, entity: Entity, events?: readonly AuditDraft[]): Promise<void> {
    return this.b.run(async () => {
      try {
        await this.b.c[name].insertOne(embedDrafts(entityDoc(entity), events));
      } catch (err) {
        if (isDuplicateKey(err))
          throw new StorageError('conflict', `${entity.id} or a unique key is taken`, { cause: err });
        throw err;
      }
    });
  }

  private getEntity<T extends Entity>(name: EntityCollection, orgId: string, id: string): Promise<T | null> {
    return this.b.run(async () => {
      const doc = await this.b.c[name].findOne({ _id: id, org_id: orgId } as Document);
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
    return this.b.run(async () => {
      const filter = { _id: id, org_id: orgId } as Document;
      const doc = await this.b.c[name].findOne(filter);
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
        res = await this.b.c[name].updateOne({ ...filter, version: expectVersion }, pushDrafts(update, events));
      } catch (err) {
        if (isDuplicateKey(err)) throw new StorageError('conflict', 'a unique key is taken', { cause: err });
        throw err;
      }
      if (res.matchedCount === 0) throw new StorageError('conflict', `version of ${id} moved`);
      return next;
    });
  }

  private listEntities<T extends Entity>(name: EntityCollection, orgId: string, query: ListQuery): Promise<Page<T>> {
    return this.b.run(async () => {
      const filter: Document = { org_id: orgId };
      if (query.status !== undefined) filter.status = query.status;
      if (query.agent_id !== undefined) filter.agent_id = query.agent_id;
      if (query.cursor !== undefined) filter.id = { $lt: query.cursor };
      const docs = await this.b.c[name]
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
    return this.b.run(async () => {
      const filter = 'id' in key ? { _id: key.id } : { ref_key: `${processorId}\u0000${key.reference}` };
      const doc = await this.b.c.bindings.findOne(filter as Document);
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
    return this.b.run(() =>
      withRetries(
        this.b.maxAttempts,
        'consumeIntent',
        async (): Promise<Attempt<'consumed' | 'already_applied' | 'rejected' | 'not_found'>> => {
          const doc = await this.b.c.intents.findOne({ _id: id, org_id: orgId } as Document);
          if (!doc) return { done: 'not_found' };
          const intent = toDomain<Intent>(doc);
          if (Object.hasOwn(intent.consumptions, consumptionId)) return { done: 'already_applied' };
          if (intent.status !== 'approved' || intent.consumed_amount + amount > intent.max_amount)
            return { done: 'rejected' };
          const res = await this.b.c.intents.updateOne(
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
    return this.b.run(() =>
      withRetries(this.b.maxAttempts, 'releaseIntent', async (): Promise<Attempt<'released' | 'not_held'>> => {
        const doc = await this.b.c.intents.findOne({ _id: id, org_id: orgId } as Document);
        if (!doc) return { done: 'not_held' };
        const intent = toDomain<Intent>(doc);
        if (!Object.hasOwn(intent.consumptions, consumptionId)) {
          if (keep !== undefined) return { done: 'not_held' };
          // Never consumed: recorded as released, so that a late consume of this id applies nothing.
          const ended = await this.b.c.intents.updateOne(
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
          const settled = await this.b.c.intents.updateOne({ _id: id, org_id: orgId, [path]: amount } as Document, {
            $set: { [path]: kept },
            $inc: { consumed_amount: kept - amount, version: 1 },
          });
          return settled.modifiedCount === 1 ? { done: 'released' } : 'retry';
        }
        const res = await this.b.c.intents.updateOne(
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
}
