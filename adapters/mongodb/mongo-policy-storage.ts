import { Binary, type Collection, type Db, type Document, type IndexDescription, type MongoClient } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import {
  emptyPolicyState,
  type InsertBundleResult,
  type Page,
  type PolicyBundleMeta,
  type PolicyBundleRecord,
  type PolicyState,
  type PolicyStateChange,
  type PolicyStorage,
} from '../../src/storage/index.js';
import { AUDIT_PENDING_INDEX, embedDrafts, pushDrafts } from './audit-outbox.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { toDomain, toStored } from './stored-document.js';

/** Names of the collections of the policy storage, next to the adapter's in the same database. */
export const POLICY_COLLECTION_NAMES = {
  bundles: 'policy_bundles',
  states: 'policy_states',
  sequence: 'policy_sequence',
} as const;

/** Collections of the policy storage whose documents carry audit drafts. */
export const POLICY_DRAFT_CARRIERS = [POLICY_COLLECTION_NAMES.bundles, POLICY_COLLECTION_NAMES.states] as const;

/** `_id` of the one document of `policy_sequence`. */
const SEQUENCE_ID = 'changes';

/**
 * The indexes `init()` creates. A bundle's `_id` is `scope NUL revision` (scope: the org id, empty for the
 * base), so an (org, revision) is stored once by construction; (scope, list_key desc) serves the list.
 * A state's `_id` is its scope.
 */
export function policyIndexPlan(): [keyof typeof POLICY_COLLECTION_NAMES, IndexDescription[]][] {
  return [
    ['bundles', [{ key: { scope: 1, list_key: -1 }, name: 'scope_list_key' }, AUDIT_PENDING_INDEX]],
    ['states', [AUDIT_PENDING_INDEX]],
  ];
}

const scopeOf = (orgId: string | null) => orgId ?? '';
const bundleId = (orgId: string | null, revision: string) => `${scopeOf(orgId)}\u0000${revision}`;
const listKey = (b: PolicyBundleMeta) => `${b.uploaded_at}\u0000${b.revision}`;
const META_PROJECTION = { bytes: 0, scope: 0, _audit: 0, _audit_key: 0 };

function toMeta(doc: Document): PolicyBundleMeta {
  const out = toDomain<Record<string, unknown>>(doc);
  delete out.bytes;
  delete out.scope;
  return out as unknown as PolicyBundleMeta;
}

function toState(doc: Document): PolicyState {
  const out = toDomain<Record<string, unknown>>(doc);
  delete out.scope;
  return out as unknown as PolicyState;
}

/**
 * {@link PolicyStorage} on MongoDB, in the same database as the MongoAdapter (see `createMongoStores`).
 * Single-document writes only: bundles are inserted by `_id`; a state is inserted (version 1) or replaced by
 * a `findOneAndUpdate` filtered on its version; then the change sequence document is incremented. Audit
 * drafts ride in the document written (see audit-outbox.ts).
 */
export class MongoPolicyStorage implements PolicyStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly db: Db;
  private readonly bundles: Collection<Document>;
  private readonly states: Collection<Document>;
  private readonly sequence: Collection<Document>;
  private closed = false;

  constructor(options: ConnectionOptions = {}) {
    const connection = openConnection(options, 'MongoPolicyStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.db = connection.db;
    this.bundles = this.db.collection(POLICY_COLLECTION_NAMES.bundles);
    this.states = this.db.collection(POLICY_COLLECTION_NAMES.states);
    this.sequence = this.db.collection(POLICY_COLLECTION_NAMES.sequence);
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB policy storage', fn);
  }

  init(): Promise<void> {
    return this.run(async () => {
      for (const [name, indexes] of policyIndexPlan()) {
        await this.db.collection(POLICY_COLLECTION_NAMES[name]).createIndexes(indexes);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  insertBundle(bundle: PolicyBundleRecord, events?: readonly AuditDraft[]): Promise<InsertBundleResult> {
    return this.run(async () => {
      const { bytes, ...meta } = bundle;
      const doc = toStored(meta) as Document;
      doc._id = bundleId(bundle.org_id, bundle.revision);
      doc.scope = scopeOf(bundle.org_id);
      doc.list_key = listKey(meta);
      doc.bytes = new Binary(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      try {
        await this.bundles.insertOne(embedDrafts(doc, events));
        return { status: 'inserted', bundle: { ...meta, entrypoints: [...meta.entrypoints] } };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const existing = await this.bundles.findOne({ _id: doc._id } as Document, { projection: META_PROJECTION });
      if (!existing) throw new Error('policy bundle vanished after a duplicate key');
      const found = toMeta(existing);
      return { status: found.sha256 === bundle.sha256 ? 'exists' : 'conflict', bundle: found };
    });
  }

  getBundle(orgId: string | null, revision: string): Promise<PolicyBundleMeta | null> {
    return this.run(async () => {
      const doc = await this.bundles.findOne({ _id: bundleId(orgId, revision) } as Document, {
        projection: META_PROJECTION,
      });
      return doc ? toMeta(doc) : null;
    });
  }

  getBundleBytes(orgId: string | null, revision: string): Promise<Uint8Array | null> {
    return this.run(async () => {
      const doc = await this.bundles.findOne({ _id: bundleId(orgId, revision) } as Document, {
        projection: { bytes: 1 },
      });
      const bytes = doc?.bytes as Binary | Uint8Array | undefined;
      if (!bytes) return null;
      const view = bytes instanceof Binary ? bytes.buffer : bytes;
      return new Uint8Array(view);
    });
  }

  listBundles(orgId: string | null, query: { limit: number; cursor?: string }): Promise<Page<PolicyBundleMeta>> {
    return this.run(async () => {
      const filter: Document = { scope: scopeOf(orgId) };
      if (query.cursor !== undefined) filter.list_key = { $lt: query.cursor };
      const docs = await this.bundles
        .find(filter, { projection: META_PROJECTION })
        .sort({ scope: 1, list_key: -1 })
        .limit(query.limit + 1)
        .toArray();
      const items = docs.slice(0, query.limit).map(toMeta);
      const last = items[items.length - 1];
      return { items, next_cursor: docs.length > query.limit && last ? listKey(last) : null };
    });
  }

  retireBundle(
    orgId: string | null,
    revision: string,
    at: string,
    events?: readonly AuditDraft[],
  ): Promise<PolicyBundleMeta | null> {
    return this.run(async () => {
      const _id = bundleId(orgId, revision);
      const doc = await this.bundles.findOneAndUpdate(
        { _id, retired_at: null } as Document,
        pushDrafts({ $set: { retired_at: at } }, events),
        { returnDocument: 'after', projection: META_PROJECTION },
      );
      if (doc) return toMeta(doc);
      const existing = await this.bundles.findOne({ _id } as Document, { projection: META_PROJECTION });
      return existing ? toMeta(existing) : null;
    });
  }

  getState(orgId: string | null): Promise<PolicyState> {
    return this.run(async () => {
      const doc = await this.states.findOne({ _id: scopeOf(orgId) } as Document, {
        projection: { _audit: 0, _audit_key: 0 },
      });
      return doc ? toState(doc) : emptyPolicyState(orgId);
    });
  }

  updateState(
    orgId: string | null,
    expectVersion: number,
    change: PolicyStateChange,
    events?: readonly AuditDraft[],
  ): Promise<PolicyState | null> {
    return this.run(async () => {
      const fields = toStored({
        org_id: orgId,
        active: change.active,
        shadow: change.shadow,
        previous: change.previous,
        activated_at: change.activated_at,
        signing_key: change.signing_key,
      }) as Document;
      let written: PolicyState | null;
      if (expectVersion === 0) {
        try {
          await this.states.insertOne(embedDrafts({ ...fields, _id: scopeOf(orgId), version: 1 }, events));
          written = { ...(fields as unknown as PolicyState), version: 1 };
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          written = null;
        }
      } else {
        const doc = await this.states.findOneAndUpdate(
          { _id: scopeOf(orgId), version: expectVersion } as Document,
          pushDrafts({ $set: fields, $inc: { version: 1 } }, events),
          { returnDocument: 'after', projection: { _audit: 0, _audit_key: 0 } },
        );
        written = doc ? toState(doc) : null;
      }
      if (written) {
        await this.sequence.updateOne({ _id: SEQUENCE_ID } as Document, { $inc: { seq: 1 } }, { upsert: true });
      }
      return written;
    });
  }

  listStates(): Promise<PolicyState[]> {
    return this.run(async () => {
      const docs = await this.states.find({}, { projection: { _audit: 0, _audit_key: 0 } }).toArray();
      return docs.map(toState);
    });
  }

  changeSequence(): Promise<number> {
    return this.run(async () => {
      const doc = await this.sequence.findOne({ _id: SEQUENCE_ID } as Document);
      return typeof doc?.seq === 'number' ? doc.seq : 0;
    });
  }
}
