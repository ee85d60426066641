import type { MongoClient } from 'mongodb';
import type { StorageSet } from '../../src/storage/index.js';
import { MongoAdapter, type MongoAdapterOptions } from './mongo-adapter.js';
import { MongoBridgeStorage } from './mongo-bridge-storage.js';
import { MongoCredentialStorage } from './mongo-credential-storage.js';
import { MongoDomainStorage } from './mongo-domain-storage.js';
import { MongoPolicyAnalysisStorage } from './mongo-policy-analysis-storage.js';
import { MongoPolicyStorage } from './mongo-policy-storage.js';
import { MongoQuotaStorage } from './mongo-quota-storage.js';
import { MongoWebhookStorage } from './mongo-webhook-storage.js';

/** Builds a {@link MongoAdapter}; call `init()` (or `engine.init()`) before use. */
export function createMongoAdapter(options: MongoAdapterOptions = {}): MongoAdapter {
  return new MongoAdapter(options);
}

/** The stores of a server on one MongoDB connection: the MongoDB {@link StorageSet}. */
export interface MongoStores extends StorageSet {
  store: MongoAdapter;
  credentials: MongoCredentialStorage;
  webhooks: MongoWebhookStorage;
  /** The connection per-credential rate-limit counters are shared on (every server on the database). */
  sharedLimits: { mongo: { client: MongoClient; dbName: string } };
  policies: MongoPolicyStorage;
  policyAnalysis: MongoPolicyAnalysisStorage;
  /** Card-processor bridges and their sealed signing secrets. */
  bridges: MongoBridgeStorage;
  quotas: MongoQuotaStorage;
  domains: MongoDomainStorage;
}

/**
 * Builds the engine's adapter, the API credential storage and the webhook storage on one client and one
 * database, as a server on MongoDB needs (`MONGODB_URI`). The other two borrow the adapter's client: closing
 * the adapter closes the connection (when it was made from `uri`), closing them does not. Call `init()` on
 * the adapter and the credential storage before use (the webhook service initializes its storage).
 */
export function createMongoStores(options: MongoAdapterOptions & { now?: () => number } = {}): MongoStores {
  const { now, ...adapterOptions } = options;
  const store = new MongoAdapter(adapterOptions);
  const credentials = new MongoCredentialStorage({
    client: store.mongoClient,
    dbName: store.databaseName,
    ...(now ? { now } : {}),
  });
  const webhooks = new MongoWebhookStorage({ client: store.mongoClient, dbName: store.databaseName });
  const policies = new MongoPolicyStorage({ client: store.mongoClient, dbName: store.databaseName });
  const policyAnalysis = new MongoPolicyAnalysisStorage({ client: store.mongoClient, dbName: store.databaseName });
  return {
    store,
    credentials,
    webhooks,
    policies,
    policyAnalysis,
    bridges: new MongoBridgeStorage({ client: store.mongoClient, dbName: store.databaseName }),
    quotas: new MongoQuotaStorage({ client: store.mongoClient, dbName: store.databaseName }),
    domains: new MongoDomainStorage({ client: store.mongoClient, dbName: store.databaseName }),
    sharedLimits: { mongo: { client: store.mongoClient, dbName: store.databaseName } },
  };
}
