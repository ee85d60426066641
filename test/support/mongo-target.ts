import { randomBytes } from 'node:crypto';
import { type Document, MongoClient } from 'mongodb';
import type { ConformanceTarget, DirectInspector, EntityKind } from '../../adapters/conformance/index.js';
import {
  COLLECTION_NAMES,
  createMongoStores,
  holdKey,
  holdRecordState,
  type MongoAdapter,
  type MongoAdapterOptions,
  type MongoCredentialStorage,
  readUsage,
  usageKey,
} from '../../adapters/mongodb/index.js';
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

const INTERNAL = { _id: 0, ref_key: 0, list_key: 0 } as const;

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
      return doc as AuthorizationRecord | null;
    },
    async raw(kind, id) {
      return db.collection(KIND_COLLECTION[kind]).findOne({ id }, { projection: INTERNAL });
    },
  };
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
  const { store: adapter, credentials } = createMongoStores({ uri, dbName, ...options });
  const client = new MongoClient(uri);
  return {
    adapter,
    credentials,
    dbName,
    uri,
    inspect: mongoInspector(client, dbName),
    async cleanup() {
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
