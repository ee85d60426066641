import type { StorageSet } from '../../src/storage/index.js';
import { SqliteAdapter, type SqliteAdapterOptions } from './sqlite-adapter.js';
import { SqliteBridgeStorage } from './sqlite-bridge-storage.js';
import { SqliteCredentialStorage } from './sqlite-credential-storage.js';
import { SqliteDomainStorage } from './sqlite-domain-storage.js';
import { SqlitePolicyAnalysisStorage } from './sqlite-policy-analysis-storage.js';
import { SqlitePolicyStorage } from './sqlite-policy-storage.js';
import { SqliteQuotaStorage } from './sqlite-quota-storage.js';
import { SqliteWebhookStorage } from './sqlite-webhook-storage.js';

/** The stores of a server on one SQLite file: the SQLite {@link StorageSet}. */
export interface SqliteStores extends StorageSet {
  store: SqliteAdapter;
  credentials: SqliteCredentialStorage;
  webhooks: SqliteWebhookStorage;
  policies: SqlitePolicyStorage;
  policyAnalysis: SqlitePolicyAnalysisStorage;
  bridges: SqliteBridgeStorage;
  quotas: SqliteQuotaStorage;
  domains: SqliteDomainStorage;
}

/**
 * Opens (creating and migrating) the database file and builds every store on its one connection, so they
 * share the audit outbox table and each write's drafts commit with it. `store.close()` closes the file.
 * `now` is the credential storage's clock for revocation expiry.
 */
export function createSqliteStores(options: SqliteAdapterOptions & { now?: () => number }): SqliteStores {
  const store = new SqliteAdapter(options);
  return {
    store,
    credentials: new SqliteCredentialStorage(store.db, options.now ? { now: options.now } : {}),
    webhooks: new SqliteWebhookStorage(store.db),
    policies: new SqlitePolicyStorage(store.db),
    policyAnalysis: new SqlitePolicyAnalysisStorage(store.db),
    bridges: new SqliteBridgeStorage(store.db),
    quotas: new SqliteQuotaStorage(store.db),
    domains: new SqliteDomainStorage(store.db),
  };
}
