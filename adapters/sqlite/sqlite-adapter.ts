import { ComposedStorageBase, type StorageParts } from '../../src/storage/index.js';
import { type OpenDatabaseOptions, openDatabase, type SqliteDatabase } from './database.js';
import { SqliteAuditStorage } from './sqlite-audit-storage.js';
import { SqliteAuthorizationStorage } from './sqlite-authorization-storage.js';
import { SqliteEntityStorage } from './sqlite-entity-storage.js';
import { SqliteLifecycle } from './sqlite-lifecycle.js';
import { SqliteUsageLedger } from './sqlite-usage-ledger.js';

export interface SqliteAdapterOptions extends OpenDatabaseOptions {
  /** The database file (created with its directory when missing), or `:memory:`. */
  path: string;
}

/** The engine's stores of one SQLite connection, one per contract. */
export function sqliteParts(db: SqliteDatabase): StorageParts {
  return {
    entities: new SqliteEntityStorage(db),
    authorizations: new SqliteAuthorizationStorage(db),
    usage: new SqliteUsageLedger(db),
    audit: new SqliteAuditStorage(db),
    lifecycle: new SqliteLifecycle(db),
  };
}

/**
 * The embedded durable adapter: one SQLite file (better-sqlite3, WAL). Every write that checks before it
 * writes runs in one `BEGIN IMMEDIATE` transaction, so it is atomic against other connections, including
 * another server process on the same file (SQLite's file locks). A call that finds the lock taken waits
 * for it between short pauses on the event loop (never inside SQLite, which would stop the whole process),
 * at most `busyTimeoutMs`, then fails with `unavailable`. Each transaction is short and synchronous;
 * methods return promises as the contract asks. Documents are stored as JSON next to the columns that lists and unique keys need.
 *
 * The engine's {@link StorageParts} on one connection (entities, authorizations, usage ledger, audit,
 * lifecycle; each in its own file). Audit: a write's drafts go into the `audit_outbox` table in the same
 * transaction as the write (`addDrafts` of SqliteStore, the helper every store of the file shares).
 */
export class SqliteAdapter extends ComposedStorageBase {
  /** The connection every store of the file shares. */
  readonly db: SqliteDatabase;

  constructor(options: SqliteAdapterOptions) {
    const db = openDatabase(options.path, options);
    super(sqliteParts(db));
    this.db = db;
  }
}
