import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StorageError } from '../../src/storage/index.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** A better-sqlite3 connection. */
export type SqliteDatabase = Database.Database;

export interface OpenDatabaseOptions {
  /**
   * How long a call waits for another connection's (another process's) lock before it fails with
   * `unavailable`. Size it to the authorize deadline: a wait longer than the request's budget is useless.
   * Opening and migrating wait inside SQLite (busy_timeout); a store call waits at most
   * {@link INLINE_LOCK_WAIT_MS} there, the rest off the event loop ({@link waitForLock}).
   */
  busyTimeoutMs?: number;
  /** Open an existing file only, without creating it or migrating it. */
  readonly?: boolean;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 2000;

/** The page size of a new database file. */
export const PAGE_SIZE = 16384;

/**
 * How long a call waits for a lock inside SQLite (its busy handler sleeps in the calling thread, so the
 * event loop stands still meanwhile) before {@link waitForLock} takes over on the event loop. Another
 * process's write holds the lock well under a millisecond, so most waits end here; a lock held longer (a
 * process descheduled or stopped while holding it) is waited for off the event loop. Measured with
 * `bench:workers` and two workers on this 2-core machine: with 0 ms, about 2.5 % of store calls found the
 * lock taken and each then waited 24 to 48 ms on average for the event loop to come back to it; with 5 ms,
 * at most 4 calls in about 20,000 went on waiting past this.
 */
export const INLINE_LOCK_WAIT_MS = 5;

/** The lock wait of each connection opened for writing (`busyTimeoutMs`), read by {@link waitForLock}. */
const lockWaits = new WeakMap<SqliteDatabase, number>();

/**
 * Opens (and creates) the database file: 16 KiB pages for a new file, WAL journal, `synchronous = NORMAL` in WAL (a commit survives a
 * process crash; only an operating-system crash may lose the last commits), foreign keys on, the busy
 * timeout set, then every pending migration applied. Once migrated, a connection opened for writing has
 * SQLite's busy timeout cut to {@link INLINE_LOCK_WAIT_MS}: SQLite waits for a lock by sleeping in the
 * calling thread, which stops every request of the process; store calls wait longer with
 * {@link waitForLock}, off the event loop.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  try {
    if (path !== ':memory:' && !options.readonly) mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
    if (!options.readonly) {
      // A new file gets 16 KiB pages: an authorization (~4 KB of JSON) or an audit event (~2.6 KB) then
      // shares its page with others instead of taking a 4 KiB page (or an overflow page) of its own.
      // Ignored for an existing file.
      db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
      const waitMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS));
      db.pragma(`busy_timeout = ${Math.min(INLINE_LOCK_WAIT_MS, waitMs)}`);
      lockWaits.set(db, waitMs);
    }
    return db;
  } catch (err) {
    throw toStorageError(err);
  }
}

/** The schema version of the database (0 for a new file). */
export function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies the migrations newer than the file's `user_version`, each in its own IMMEDIATE transaction that
 * also moves `user_version`, so two processes starting at once apply each migration once. A file of a
 * newer schema than this code knows is refused.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations.reduce((v, m) => Math.max(v, m.version), 0);
  if (schemaVersion(db) > latest) {
    throw new StorageError('internal', `database schema ${schemaVersion(db)} is newer than this version (${latest})`);
  }
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    immediate(db, () => {
      if (schemaVersion(db) >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    });
  }
}

/**
 * Runs `fn` in a `BEGIN IMMEDIATE` transaction: the write lock is taken at the start, so a
 * read-check-write inside `fn` is atomic against every other connection and process. Keep `fn`
 * short and synchronous. Errors come out as StorageError.
 */
export function immediate<T>(db: SqliteDatabase, fn: () => T): T {
  try {
    return db.transaction(fn).immediate();
  } catch (err) {
    throw toStorageError(err);
  }
}

/** True when `err` (or the error it wraps) says another connection holds a lock SQLite needs. */
function isLocked(err: unknown): boolean {
  if (err instanceof StorageError) return err.cause !== undefined && isLocked(err.cause);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** The pauses between two tries for a lock, in ms: the first try again at once, then 1, 2, 4, 8, 8, ... */
function pauseBefore(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(8, 2 ** (attempt - 1));
}

function pause(ms: number): Promise<void> {
  return new Promise((ok) => (ms === 0 ? setImmediate(ok) : setTimeout(ok, ms)));
}

/**
 * Runs `attempt` (a short synchronous transaction or read) and, while another connection holds the lock it
 * needs (past the {@link INLINE_LOCK_WAIT_MS} SQLite waits itself), tries again after a pause on the event
 * loop, so that the process keeps serving its other requests meanwhile; a lock still held `busyTimeoutMs`
 * after the first try is `unavailable`. Each try holds the event loop for the transaction's own work and at
 * most {@link INLINE_LOCK_WAIT_MS} of waiting. `attempt` is tried again only when
 * it failed before doing anything: `BEGIN IMMEDIATE` (or the read's first statement) did not get its lock.
 * `entered()` tells whether the try got that far; a lock error after it is `unavailable` at once.
 */
export async function waitForLock<T>(
  db: SqliteDatabase,
  attempt: () => T,
  entered: () => boolean = () => false,
): Promise<T> {
  const waitMs = lockWaits.get(db) ?? 0;
  const started = performance.now();
  for (let n = 0; ; n++) {
    try {
      return attempt();
    } catch (err) {
      const waited = performance.now() - started;
      if (!isLocked(err) || entered() || waited >= waitMs) throw toStorageError(err);
      await pause(Math.min(pauseBefore(n), Math.max(0, waitMs - waited)));
    }
  }
}

/** Runs a read outside a write transaction, errors as StorageError. */
export function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toStorageError(err);
  }
}

/**
 * Maps what better-sqlite3 throws to the storage contract: a lock held past the busy timeout or a closed
 * connection is `unavailable` (retryable), a unique or primary key is `conflict`, anything else `internal`.
 */
export function toStorageError(err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string') {
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return new StorageError('unavailable', `database is locked: ${message}`, { cause: err });
    }
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      return new StorageError('conflict', message, { cause: err });
    }
    if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_')) {
      return new StorageError('unavailable', message, { cause: err });
    }
  }
  if (err instanceof TypeError && /not open/.test(message)) {
    return new StorageError('unavailable', 'the database is closed', { cause: err });
  }
  return new StorageError('internal', message, { cause: err });
}
