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
import { MemoryAuditOutbox } from './memory-audit-outbox.js';

/** Options of {@link MemoryCredentialStorage}. */
export interface MemoryCredentialStorageOptions {
  /** The clock that decides which revocations are past their `exp`. Default `Date.now`. */
  now?: () => number;
  /**
   * Where audit drafts of writes go: the `auditOutbox` of the MemoryAdapter of the same server, so its
   * `listAuditOutbox` returns them. Default: an outbox of its own that no adapter lists (use
   * `createMemoryStores` to get both stores wired together).
   */
  outbox?: MemoryAuditOutbox;
}

/** The identity of a revocation: recording the same one again is one revocation. */
function revocationKey(r: TokenRevocation): string {
  return r.jti !== null
    ? `jti\u0000${r.org_id}\u0000${r.jti}`
    : `agent\u0000${r.org_id}\u0000${r.agent_id}\u0000${r.revoked_at}`;
}

/**
 * In-memory {@link CredentialStorage}: the default next to MemoryAdapter. Stored objects are frozen;
 * data is lost on exit and not shared between processes. A write's audit drafts go into the outbox
 * given in the options in the same step as the write (none when it fails or, for a revocation already
 * recorded, changes nothing).
 *
 * Built as `new MemoryCredentialStorage()`, `new MemoryCredentialStorage(now)` or
 * `new MemoryCredentialStorage({ now, outbox })`.
 */
export class MemoryCredentialStorage implements CredentialStorage {
  private readonly credentials = new Map<string, ApiCredential>();
  private readonly revocations = new Map<string, TokenRevocation>();
  private readonly issued = new Map<string, IssuedToken>();
  private lastSeq = 0;
  private readonly now: () => number;
  /** Where the drafts of this storage's writes go (see {@link MemoryCredentialStorageOptions.outbox}). */
  readonly auditOutbox: MemoryAuditOutbox;

  constructor(options: (() => number) | MemoryCredentialStorageOptions = {}) {
    const opts = typeof options === 'function' ? { now: options } : options;
    this.now = opts.now ?? Date.now;
    this.auditOutbox = opts.outbox ?? new MemoryAuditOutbox();
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async insertCredential(credential: ApiCredential, events?: readonly AuditDraft[]): Promise<void> {
    if (this.credentials.has(credential.key_id)) {
      throw new StorageError('conflict', `duplicate key id ${credential.key_id}`);
    }
    this.credentials.set(credential.key_id, Object.freeze({ ...credential }));
    this.auditOutbox.add(events);
  }

  async getCredential(keyId: string): Promise<ApiCredential | null> {
    return this.credentials.get(keyId) ?? null;
  }

  /** `getCredential` (so a wrapper of it sees every read) with the store's clock, the `now` of the options. */
  async readCredential(keyId: string): Promise<TimedCredential | null> {
    const credential = await this.getCredential(keyId);
    return credential ? { credential, storeTimeMs: this.now() } : null;
  }

  async listCredentials(ownerId: string, query: ListQuery): Promise<Page<ApiCredential>> {
    const matches = [...this.credentials.values()]
      .filter(
        (c) =>
          c.owner_id === ownerId &&
          (query.status === undefined || c.status === query.status) &&
          (query.cursor === undefined || c.key_id < query.cursor),
      )
      .sort((a, b) => (a.key_id < b.key_id ? 1 : -1));
    const items = matches.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, next_cursor: matches.length > query.limit && last ? last.key_id : null };
  }

  async updateCredential(
    keyId: string,
    expectVersion: number,
    patch: Partial<ApiCredential>,
    events?: readonly AuditDraft[],
  ): Promise<ApiCredential | null> {
    const row = this.credentials.get(keyId);
    if (!row) return null;
    if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${keyId} moved`);
    const next = Object.freeze({ ...row, ...patch, key_id: row.key_id, version: row.version + 1 });
    this.credentials.set(keyId, next);
    this.auditOutbox.add(events);
    return next;
  }

  /** Insert-if-absent by (org_id, jti): recording one again keeps the first and stores no drafts. */
  async insertIssuedToken(token: IssuedToken, events?: readonly AuditDraft[]): Promise<void> {
    const now = new Date(this.now()).toISOString();
    for (const [key, t] of this.issued) if (t.exp <= now) this.issued.delete(key);
    const key = `${token.org_id}\u0000${token.jti}`;
    if (this.issued.has(key)) return;
    this.issued.set(key, Object.freeze({ ...token }));
    this.auditOutbox.add(events);
  }

  async getIssuedToken(orgId: string, jti: string): Promise<IssuedToken | null> {
    const token = this.issued.get(`${orgId}\u0000${jti}`);
    return token && token.exp > new Date(this.now()).toISOString() ? token : null;
  }

  /**
   * Insert-if-absent by the revocation's identity: recording one again keeps the first and stores no drafts.
   * The next seq is taken in the same step, so seqs here have no gaps but those of dropped entries.
   */
  async insertRevokedToken(revocation: TokenRevocation, events?: readonly AuditDraft[]): Promise<void> {
    const now = new Date(this.now()).toISOString();
    for (const [key, r] of this.revocations) if (r.exp <= now) this.revocations.delete(key);
    const key = revocationKey(revocation);
    if (this.revocations.has(key)) return;
    this.lastSeq += 1;
    this.revocations.set(key, Object.freeze({ ...revocation, seq: this.lastSeq }));
    this.auditOutbox.add(events);
  }

  async listRevokedTokens(afterSeq: number): Promise<TokenRevocation[]> {
    const now = new Date(this.now()).toISOString();
    return [...this.revocations.values()]
      .filter((r) => (r.seq as number) > afterSeq && r.exp > now)
      .sort((a, b) => (a.seq as number) - (b.seq as number));
  }
}
