import { MongoAdapter, type MongoAdapterOptions } from './mongo-adapter.js';
import { MongoCredentialStorage } from './mongo-credential-storage.js';

/** Builds a {@link MongoAdapter}; call `init()` (or `engine.init()`) before use. */
export function createMongoAdapter(options: MongoAdapterOptions = {}): MongoAdapter {
  return new MongoAdapter(options);
}

/** The two stores of a server on one MongoDB connection. */
export interface MongoStores {
  store: MongoAdapter;
  credentials: MongoCredentialStorage;
}

/**
 * Builds the engine's adapter and the API credential storage on one client and one database, as a server
 * on MongoDB needs (`MONGODB_URI`). The credential storage borrows the adapter's client: closing the
 * adapter closes the connection (when it was made from `uri`), closing the credential storage does not.
 * Call `init()` on both before use.
 */
export function createMongoStores(options: MongoAdapterOptions & { now?: () => number } = {}): MongoStores {
  const { now, ...adapterOptions } = options;
  const store = new MongoAdapter(adapterOptions);
  const credentials = new MongoCredentialStorage({
    client: store.mongoClient,
    dbName: store.databaseName,
    ...(now ? { now } : {}),
  });
  return { store, credentials };
}
