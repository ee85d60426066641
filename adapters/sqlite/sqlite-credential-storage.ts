import type { AuditDraft } from '../../src/audit/types.js';
import type {
  ApiCredential,
  CredentialStorage,
  IssuedToken,
  ListQuery,
  Page,
  TimedCredential,
  TokenRevocation,
} from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import type { SqliteDatabase } from './database.js';
import { SqliteStore } from './sqlite-store.js';

/** The identity of a revocation: recording the same one again is one revocation. */
function revocationIdentity(r: TokenRevocation): string {
  return r.jti !== null
    ? `jti\u0000${r.org_id}\u0000${r.jti}`
    : `agent\u0000${r.org_id}\u0000${r.agent_id}\u0000${r.revoked_at}`;
}

/**
 * {@link CredentialStorage} on the SQLite database of a SqliteAdapter (pass its `db`): a write's drafts
 * join the adapter's outbox in the write's transaction. Revocation numbers come from an AUTOINCREMENT
 * key, so every process on the file shares one sequence. `now` decides which entries are past `exp`.
 */
export class SqliteCredentialStorage extends SqliteStore implements CredentialStorage {
  private readonly now: () => number;

  constructor(db: SqliteDatabase, options: { now?: () => number } = {}) {
    super(db);
    this.now = options.now ?? Date.now;
  }

  private nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  async insertCredential(credential: ApiCredential, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO credentials (key_id, owner_id, status, version, doc) VALUES (?, ?, ?, ?, ?)').run(
        credential.key_id,
        credential.owner_id,
        credential.status,
        credential.version,
        JSON.stringify(credential),
      );
      this.addDrafts(events);
    });
  }

  private getSync(keyId: string): ApiCredential | null {
    return this.doc<ApiCredential>(this.sql('SELECT doc FROM credentials WHERE key_id = ?').get(keyId));
  }

  async getCredential(keyId: string): Promise<ApiCredential | null> {
    return this.read(() => this.getSync(keyId));
  }

  /** The store's clock is the `now` of the options: every process on the file runs on this machine's clock. */
  async readCredential(keyId: string): Promise<TimedCredential | null> {
    return this.read(() => {
      const credential = this.getSync(keyId);
      return credential ? { credential, storeTimeMs: this.now() } : null;
    });
  }

  async listCredentials(ownerId: string, query: ListQuery): Promise<Page<ApiCredential>> {
    return this.read(() => {
      const where = ['owner_id = ?'];
      const args: unknown[] = [ownerId];
      if (query.status !== undefined) {
        where.push('status = ?');
        args.push(query.status);
      }
      if (query.cursor !== undefined) {
        where.push('key_id < ?');
        args.push(query.cursor);
      }
      const rows = this.docs<ApiCredential>(
        this.sql(`SELECT doc FROM credentials WHERE ${where.join(' AND ')} ORDER BY key_id DESC LIMIT ?`).all(
          ...args,
          query.limit + 1,
        ),
      );
      const items = rows.slice(0, query.limit);
      const last = items[items.length - 1];
      return { items, next_cursor: rows.length > query.limit && last ? last.key_id : null };
    });
  }

  async updateCredential(
    keyId: string,
    expectVersion: number,
    patch: Partial<ApiCredential>,
    events?: readonly AuditDraft[],
  ): Promise<ApiCredential | null> {
    return this.tx(() => {
      const row = this.getSync(keyId);
      if (!row) return null;
      if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${keyId} moved`);
      const next: ApiCredential = { ...row, ...patch, key_id: row.key_id, version: row.version + 1 };
      this.sql('UPDATE credentials SET owner_id = ?, status = ?, version = ?, doc = ? WHERE key_id = ?').run(
        next.owner_id,
        next.status,
        next.version,
        JSON.stringify(next),
        keyId,
      );
      this.addDrafts(events);
      return next;
    });
  }

  async insertIssuedToken(token: IssuedToken, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('DELETE FROM issued_tokens WHERE exp <= ?').run(this.nowIso());
      const added = this.sql('INSERT OR IGNORE INTO issued_tokens (org_id, jti, exp, doc) VALUES (?, ?, ?, ?)').run(
        token.org_id,
        token.jti,
        token.exp,
        JSON.stringify(token),
      );
      if (added.changes > 0) this.addDrafts(events);
    });
  }

  async getIssuedToken(orgId: string, jti: string): Promise<IssuedToken | null> {
    return this.read(() =>
      this.doc<IssuedToken>(
        this.sql('SELECT doc FROM issued_tokens WHERE org_id = ? AND jti = ? AND exp > ?').get(
          orgId,
          jti,
          this.nowIso(),
        ),
      ),
    );
  }

  async insertRevokedToken(revocation: TokenRevocation, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('DELETE FROM revoked_tokens WHERE exp <= ?').run(this.nowIso());
      const { seq: _ignored, ...entry } = revocation;
      const added = this.sql('INSERT OR IGNORE INTO revoked_tokens (identity, exp, doc) VALUES (?, ?, ?)').run(
        revocationIdentity(revocation),
        revocation.exp,
        JSON.stringify(entry),
      );
      if (added.changes > 0) this.addDrafts(events);
    });
  }

  async listRevokedTokens(afterSeq: number): Promise<TokenRevocation[]> {
    return this.read(() =>
      (
        this.sql('SELECT seq, doc FROM revoked_tokens WHERE seq > ? AND exp > ? ORDER BY seq').all(
          afterSeq,
          this.nowIso(),
        ) as { seq: number; doc: string }[]
      ).map((r) => ({ ...(JSON.parse(r.doc) as TokenRevocation), seq: r.seq })),
    );
  }
}
