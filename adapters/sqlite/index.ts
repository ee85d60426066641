export { createSqliteStores, type SqliteStores } from './create-sqlite-stores.js';
export {
  DEFAULT_BUSY_TIMEOUT_MS,
  immediate,
  migrate,
  type OpenDatabaseOptions,
  openDatabase,
  type SqliteDatabase,
  schemaVersion,
  toStorageError,
} from './database.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { SqliteAdapter, type SqliteAdapterOptions, sqliteParts } from './sqlite-adapter.js';
export { SqliteAuditStorage } from './sqlite-audit-storage.js';
export { SqliteAuthorizationStorage } from './sqlite-authorization-storage.js';
export { SqliteBridgeStorage } from './sqlite-bridge-storage.js';
export { SqliteCredentialStorage } from './sqlite-credential-storage.js';
export { SqliteDomainStorage } from './sqlite-domain-storage.js';
export { SqliteEntityStorage } from './sqlite-entity-storage.js';
export { SqliteLifecycle } from './sqlite-lifecycle.js';
export { SqlitePolicyAnalysisStorage } from './sqlite-policy-analysis-storage.js';
export { SqlitePolicyStorage } from './sqlite-policy-storage.js';
export { SqliteQuotaStorage } from './sqlite-quota-storage.js';
export { SqliteStore } from './sqlite-store.js';
export { SqliteUsageLedger } from './sqlite-usage-ledger.js';
export { SqliteWebhookStorage } from './sqlite-webhook-storage.js';
