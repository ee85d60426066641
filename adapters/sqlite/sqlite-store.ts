import type BetterSqlite3 from 'better-sqlite3';
import type { AuditDraft } from '../../src/audit/types.js';
import { immediate, read, type SqliteDatabase, waitForLock } from './database.js';

function withoutRef(draft: AuditDraft): AuditDraft {
  if (draft.outbox_ref === undefined) return draft;
  const { outbox_ref: _ref, ...rest } = draft;
  return rest;
}

/**
 * What every SQLite store of one database shares: cached prepared statements, short `BEGIN IMMEDIATE`
 * write transactions and reads (errors as StorageError, results as promises), and the audit outbox
 * table that a write's drafts join in the write's own transaction.
 */
export class SqliteStore {
  private readonly statements = new Map<string, BetterSqlite3.Statement<unknown[]>>();

  constructor(readonly db: SqliteDatabase) {}

  /** A prepared statement, cached by its text. */
  protected sql(text: string): BetterSqlite3.Statement<unknown[]> {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare<unknown[]>(text);
      this.statements.set(text, s);
    }
    return s;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction; while another process holds the write lock, the call waits for
   * it off the event loop (at most the connection's `busyTimeoutMs`, then `unavailable`).
   */
  protected tx<T>(fn: () => T): Promise<T> {
    let entered = false;
    const body = () => {
      entered = true;
      return fn();
    };
    return Promise.resolve().then(() =>
      waitForLock(
        this.db,
        () => immediate(this.db, body),
        () => entered,
      ),
    );
  }

  /** Runs a read (side-effect free, so tried again while a lock it needs is held, like `tx`). */
  protected read<T>(fn: () => T): Promise<T> {
    return Promise.resolve().then(() => waitForLock(this.db, () => read(fn)));
  }

  /** The parsed `doc` column of a row, or null. */
  protected doc<T>(row: unknown): T | null {
    return row ? (JSON.parse((row as { doc: string }).doc) as T) : null;
  }

  protected docs<T>(rows: unknown[]): T[] {
    return (rows as { doc: string }[]).map((r) => JSON.parse(r.doc) as T);
  }

  /** Adds drafts to the outbox (inside the caller's transaction); a draft already pending is ignored. */
  protected addDrafts(drafts: readonly AuditDraft[] | undefined): void {
    if (!drafts) return;
    const insert = this.sql('INSERT OR IGNORE INTO audit_outbox (id, at, doc) VALUES (?, ?, ?)');
    for (const d of drafts) {
      const draft = withoutRef(d);
      insert.run(draft.id, draft.at, JSON.stringify(draft));
    }
  }
}
