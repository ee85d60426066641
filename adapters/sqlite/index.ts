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
export { SqliteAdapter, type SqliteAdapterOptions } from './sqlite-adapter.js';
