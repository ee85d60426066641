import type { ApiCredential, CredentialStorage, ListQuery, Page, TokenRevocation } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';

/**
 * In-memory {@link CredentialStorage}: the default next to MemoryAdapter. Stored objects are frozen;
 * data is lost on exit and not shared between processes.
 */
export class MemoryCredentialStorage implements CredentialStorage {
  private readonly credentials = new Map<string, ApiCredential>();
  private revocations: TokenRevocation[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async insertCredential(credential: ApiCredential): Promise<void> {
    if (this.credentials.has(credential.key_id)) {
      throw new StorageError('conflict', `duplicate key id ${credential.key_id}`);
    }
    this.credentials.set(credential.key_id, Object.freeze({ ...credential }));
  }

  async getCredential(keyId: string): Promise<ApiCredential | null> {
    return this.credentials.get(keyId) ?? null;
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
  ): Promise<ApiCredential | null> {
    const row = this.credentials.get(keyId);
    if (!row) return null;
    if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${keyId} moved`);
    const next = Object.freeze({ ...row, ...patch, key_id: row.key_id, version: row.version + 1 });
    this.credentials.set(keyId, next);
    return next;
  }

  async insertRevokedToken(revocation: TokenRevocation): Promise<void> {
    const now = new Date(this.now()).toISOString();
    this.revocations = this.revocations.filter((r) => r.exp > now);
    this.revocations.push(Object.freeze({ ...revocation }));
  }

  async listRevokedTokens(sinceIso: string): Promise<TokenRevocation[]> {
    const now = new Date(this.now()).toISOString();
    return this.revocations
      .filter((r) => r.revoked_at >= sinceIso && r.exp > now)
      .sort((a, b) => (a.revoked_at < b.revoked_at ? -1 : a.revoked_at > b.revoked_at ? 1 : 0));
  }
}
