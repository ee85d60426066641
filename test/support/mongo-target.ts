import { randomBytes } from 'node:crypto';
import { type Document, MongoClient } from 'mongodb';
import type { ConformanceTarget, DirectInspector, EntityKind } from '../../adapters/conformance/index.js';
import {
  AUDIT_DRAFTS_FIELD,
  AUDIT_KEY_FIELD,
  COLLECTION_NAMES,
  CREDENTIAL_COLLECTION_NAMES,
  createMongoStores,
  DOMAIN_DRAFT_CARRIERS,
  DRAFT_CARRIERS,
  decodeKey,
  encodeKey,
  holdKey,
  holdRecordState,
  type MongoAdapter,
  type MongoAdapterOptions,
  type MongoCredentialStorage,
  MongoPolicyStorage,
  POLICY_ANALYSIS_DRAFT_CARRIERS,
  POLICY_DRAFT_CARRIERS,
  readUsage,
  usageKey,
} from '../../adapters/mongodb/index.js';
import type { AuditDraft, AuditEvent } from '../../src/audit/types.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { type RunningMongoServer, startMongoServer } from './mongo-server.js';

let server: Promise<RunningMongoServer> | undefined;

/** The test MongoDB server of this process, started on first use (a start failure fails the caller). */
export function testMongoServer(): Promise<RunningMongoServer> {
  server ??= startMongoServer();
  return server;
}

/** A database name no other test uses. */
export function freshDbName(prefix = 'allowance_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

const KIND_COLLECTION: Record<EntityKind, string> = {
  org: COLLECTION_NAMES.orgs,
  processor: COLLECTION_NAMES.processors,
  agent: COLLECTION_NAMES.agents,
  authority: COLLECTION_NAMES.authorities,
  binding: COLLECTION_NAMES.bindings,
  intent: COLLECTION_NAMES.intents,
};

const INTERNAL = { _id: 0, ref_key: 0, list_key: 0, [AUDIT_DRAFTS_FIELD]: 0, [AUDIT_KEY_FIELD]: 0 } as const;

/** Every collection whose documents may carry pending audit drafts (the adapter's and the credentials'). */
const DRAFT_COLLECTIONS = [
  ...DRAFT_CARRIERS.map((k) => COLLECTION_NAMES[k]),
  ...Object.values(CREDENTIAL_COLLECTION_NAMES),
  ...POLICY_DRAFT_CARRIERS,
  ...POLICY_ANALYSIS_DRAFT_CARRIERS,
  ...DOMAIN_DRAFT_CARRIERS,
];

/** Reads the adapter's collections with a client of its own. */
export function mongoInspector(client: MongoClient, dbName: string): DirectInspector {
  const db = client.db(dbName);
  return {
    async usage(orgId, authorityId) {
      const key = usageKey(orgId, authorityId);
      const state = readUsage(await db.collection(COLLECTION_NAMES.usage).findOne({ _id: key } as Document));
      // Open holds: pending in the usage document, or moved out to a record that has not given back yet.
      const holds = new Set(state.holds.keys());
      const prefix = holdKey(key, '');
      const records = db
        .collection(COLLECTION_NAMES.reservationEnds)
        .find({ _id: { $gte: prefix, $lt: `${key}\u0001` } } as Document);
      for await (const r of records) {
        const id = String(r._id).slice(prefix.length);
        const s = holdRecordState(r);
        if (s === 'held' || (s === 'releasing' && !state.released.has(id))) holds.add(id);
      }
      return { windows: state.windows, holds: [...holds].sort() };
    },
    async authorization(processorId, authorizationId) {
      const doc = await db
        .collection(COLLECTION_NAMES.authorizations)
        .findOne({ processor_id: processorId, authorization_id: authorizationId }, { projection: INTERNAL });
      return doc ? (decodeStored(doc) as AuthorizationRecord) : null;
    },
    async raw(kind, id) {
      const doc = await db.collection(KIND_COLLECTION[kind]).findOne({ id }, { projection: INTERNAL });
      return doc ? decodeStored(doc) : null;
    },
    async auditOutbox() {
      const drafts: AuditDraft[] = [];
      for (const name of DRAFT_COLLECTIONS) {
        const docs = db.collection(name).find({ [AUDIT_DRAFTS_FIELD]: { $exists: true } });
        for await (const doc of docs) drafts.push(...(doc[AUDIT_DRAFTS_FIELD] as AuditDraft[]).map(decodeDraft));
      }
      for await (const doc of db.collection(COLLECTION_NAMES.auditOutbox).find({}, { projection: { _id: 0 } })) {
        drafts.push(decodeDraft(doc as unknown as AuditDraft));
      }
      return drafts;
    },
    async auditEvents(orgId) {
      const docs = await db
        .collection(COLLECTION_NAMES.auditEvents)
        .find({ org_id: orgId }, { projection: { _id: 0 } })
        .sort({ seq: 1 })
        .toArray();
      return docs.map((d) => decodeStored(d) as AuditEvent);
    },
  };
}

/** A stored draft or event as written (its payload keys unescaped). */
function decodeDraft(d: AuditDraft): AuditDraft {
  return decodeStored(d) as AuditDraft;
}

function decodeStored(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeStored);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [decodeKey(k), decodeStored(v)]));
}

/**
 * TEST ONLY: changes the stored chain of a MongoAdapter's database directly (`audit_events`, one document
 * per event, `_id` = event id, unique on (org_id, seq)), bypassing the adapter; the same operations as the
 * memory adapter's tamper hooks. Each throws when there is no event at a given seq.
 */
export function mongoAuditTamper(client: MongoClient, dbName: string) {
  const events = client.db(dbName).collection(COLLECTION_NAMES.auditEvents);
  const at = async (orgId: string, seq: number): Promise<Document> => {
    const doc = await events.findOne({ org_id: orgId, seq });
    if (!doc) throw new Error(`no audit event at seq ${seq} of ${orgId}`);
    return doc;
  };
  return {
    /** Replaces the event at `seq` by what `mutate` makes of a copy (or returns); its `_id` stays. */
    async tamperAuditEvent(
      orgId: string,
      seq: number,
      mutate: ((event: AuditEvent) => void) | ((event: AuditEvent) => AuditEvent),
    ): Promise<AuditEvent> {
      const { _id, ...stored } = await at(orgId, seq);
      const copy = decodeStored(stored) as AuditEvent;
      const next = (mutate(copy) as AuditEvent | undefined) ?? copy;
      await events.replaceOne({ _id } as Document, encodeStored(next) as Document);
      return next;
    },
    /** Deletes the event at `seq`, leaving a gap. */
    async deleteAuditEvent(orgId: string, seq: number): Promise<void> {
      const { _id } = await at(orgId, seq);
      await events.deleteOne({ _id } as Document);
    },
    /** Exchanges the `seq` of two events (through a free seq, as (org_id, seq) is unique). */
    async swapAuditEvents(orgId: string, seqA: number, seqB: number): Promise<void> {
      const a = await at(orgId, seqA);
      const b = await at(orgId, seqB);
      await events.updateOne({ _id: a._id } as Document, { $set: { seq: -seqA } });
      await events.updateOne({ _id: b._id } as Document, { $set: { seq: seqA } });
      await events.updateOne({ _id: a._id } as Document, { $set: { seq: seqB } });
    },
  };
}

function encodeStored(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(encodeStored);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [encodeKey(k), encodeStored(v)]));
}

/**
 * A conformance target over a fresh database of the test server (the adapter and the credential storage on
 * one connection); cleanup drops it.
 */
export async function mongoTarget(
  options: Partial<MongoAdapterOptions> = {},
): Promise<
  ConformanceTarget & { adapter: MongoAdapter; credentials: MongoCredentialStorage; dbName: string; uri: string }
> {
  const { uri } = await testMongoServer();
  const dbName = freshDbName();
  const {
    store: adapter,
    credentials,
    policies,
    policyAnalysis,
    quotas,
    domains,
  } = createMongoStores({
    uri,
    dbName,
    ...options,
  });
  const client = new MongoClient(uri);
  // Another server on the same database: its own client.
  const policiesPeer = new MongoPolicyStorage({ uri, dbName });
  return {
    adapter,
    credentials,
    policies,
    policiesPeer,
    policyAnalysis,
    quotas,
    domains,
    dbName,
    uri,
    inspect: mongoInspector(client, dbName),
    async cleanup() {
      await policiesPeer.close();
      await policyAnalysis.close();
      await credentials.close();
      await adapter.close();
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    },
  };
}
