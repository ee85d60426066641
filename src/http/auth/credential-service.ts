import { createHash, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditDraft } from '../../audit/index.js';
import type { SecretBox } from '../../crypto/index.js';
import type { DraftSpec } from '../../engine/index.js';
import { AppError } from '../../errors/index.js';
import type { ApiCredential, CredentialRole, CredentialStorage, Page } from '../../storage/index.js';
import { isStorageError } from '../../storage/index.js';
import { type Clock, isoTime } from '../../util/clock.js';
import { newId } from '../../util/ids.js';

interface CacheEntry {
  resolved: ResolvedKey;
  checkedAt: number;
  version: number;
}

/**
 * Guards the store reads of one request's key id: `beforeRead` may refuse the read (throws `rate_limited`),
 * `onMiss` counts a key id the store did not know (or, on the exchange, a wrong secret).
 */
export interface ReadGuard {
  beforeRead(): void;
  onMiss(): void;
}

/** A credential as shown after creation: the one time the secret appears. */
export type CreatedCredential = CredentialView & { secret: string };

/** A credential as listed: the secret masked. */
export interface CredentialView {
  key_id: string;
  name: string | null;
  role: CredentialRole;
  owner_id: string | null;
  status: 'active' | 'revoked';
  secret: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** What verifying a token needs about its credential. */
export interface ResolvedKey {
  keyId: string;
  role: CredentialRole;
  ownerId: string | null;
  status: 'active' | 'revoked';
  /** The HMAC key, as a KeyObject: verifying with one is ~50× cheaper than with a string secret. */
  key: KeyObject;
}

const KEY_PREFIX: Record<CredentialRole, string> = { enterprise: 'ek', processor: 'pk', operator: 'op' };
/** How long a cached credential's status is trusted before it is read again (a revocation elsewhere). */
const STATUS_TTL_MS = 30_000;

/** How long a request waits for the store to confirm a status checked before, once its TTL is over. */
const STALE_WAIT_MS = 200;
/** last_used_at is written at most this often per credential. */
const TOUCH_INTERVAL_MS = 60_000;
/** How long a key id the store did not know is answered as unknown without reading the store again. */
export const DEFAULT_UNKNOWN_KEY_TTL_MS = 2_000;
/** The most unknown key ids remembered; the oldest is forgotten first. */
export const UNKNOWN_KEY_CACHE_SIZE = 10_000;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function view(c: ApiCredential): CredentialView {
  return {
    key_id: c.key_id,
    name: c.name,
    role: c.role,
    owner_id: c.owner_id,
    status: c.status,
    secret: `sk_****${c.secret_last4}`,
    created_at: c.created_at,
    revoked_at: c.revoked_at,
    last_used_at: c.last_used_at,
  };
}

/**
 * API credentials: creation, masked listing, revocation, secret exchange, and the cached HMAC keys that
 * verify client-signed tokens. The operator credential from the environment lives only in memory.
 */
export class CredentialService {
  private readonly cache = new Map<string, CacheEntry>();
  /** Key ids the store did not know: key id -> when it was read (this server's clock). Insertion-ordered. */
  private readonly unknown = new Map<string, number>();
  private readonly unknownTtlMs: number;
  private readonly touched = new Map<string, number>();
  private readonly writes = new Set<Promise<void>>();
  private readonly operator: { resolved: ResolvedKey; sha: Buffer } | null;

  constructor(
    private readonly storage: CredentialStorage,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    operator: { keyId: string; secret: string } | null,
    /** Builds audit drafts (the engine's); enterprise credentials are recorded in their org's trail. */
    private readonly drafts: (spec: DraftSpec) => AuditDraft[] | undefined = () => undefined,
    /** How long an unknown key id is remembered (0: not at all). Default {@link DEFAULT_UNKNOWN_KEY_TTL_MS}. */
    unknownKeyTtlMs: number = DEFAULT_UNKNOWN_KEY_TTL_MS,
  ) {
    this.unknownTtlMs = unknownKeyTtlMs;
    this.operator = operator && {
      resolved: {
        keyId: operator.keyId,
        role: 'operator',
        ownerId: null,
        status: 'active',
        key: createSecretKey(Buffer.from(operator.secret, 'utf8')),
      },
      sha: sha256(operator.secret),
    };
  }

  /** Creates a credential and returns it with its secret, which is never shown again. */
  async create(
    role: CredentialRole,
    ownerId: string | null,
    name: string | null = null,
    actor?: string,
  ): Promise<CreatedCredential> {
    const now = this.clock.now();
    const keyId = newId(KEY_PREFIX[role], now);
    const secret = `sk_${randomBytes(32).toString('base64url')}`;
    const row: ApiCredential = {
      key_id: keyId,
      name,
      role,
      owner_id: ownerId,
      status: 'active',
      secret_sha256: sha256(secret).toString('hex'),
      secret_ciphertext: this.box.seal(secret, keyId),
      secret_last4: secret.slice(-4),
      created_at: isoTime(now),
      revoked_at: null,
      last_used_at: null,
      version: 0,
    };
    await this.storage.insertCredential(row, this.credentialDraft(row, 'credential.created', actor, now));
    this.unknown.delete(keyId);
    return { ...view(row), secret };
  }

  /** The audit draft of an enterprise credential's change (processor credentials belong to no org trail). */
  private credentialDraft(
    row: ApiCredential,
    type: 'credential.created' | 'credential.revoked',
    actor: string | undefined,
    atMs: number,
  ): AuditDraft[] | undefined {
    if (row.role !== 'enterprise' || row.owner_id === null) return undefined;
    return this.drafts({
      orgId: row.owner_id,
      type,
      subject: { kind: 'credential', id: row.key_id },
      agentId: null,
      payload: { key_id: row.key_id, name: row.name, role: row.role, created_at: row.created_at },
      actor,
      atMs,
    });
  }

  /** An owner's credentials, secrets masked. */
  async list(
    ownerId: string,
    query: { limit: number; cursor?: string; status?: string },
  ): Promise<Page<CredentialView>> {
    const page = await this.storage.listCredentials(ownerId, query);
    return { items: page.items.map(view), next_cursor: page.next_cursor };
  }

  /**
   * Revokes a credential of `ownerId` (any owner when null); `not_found` otherwise. Idempotent. Tokens of a
   * revoked credential fail at once on this server and within STATUS_TTL_MS on the others.
   */
  async revoke(keyId: string, ownerId: string | null, actor?: string): Promise<CredentialView> {
    for (let attempt = 0; ; attempt++) {
      const row = await this.storage.getCredential(keyId);
      if (!row || (ownerId !== null && row.owner_id !== ownerId))
        throw new AppError('not_found', 'credential not found');
      if (row.status === 'revoked') {
        this.cache.delete(keyId);
        return view(row);
      }
      try {
        const now = this.clock.now();
        const updated = await this.storage.updateCredential(
          keyId,
          row.version,
          { status: 'revoked', revoked_at: isoTime(now) },
          this.credentialDraft(row, 'credential.revoked', actor, now),
        );
        this.cache.delete(keyId);
        if (!updated) throw new AppError('not_found', 'credential not found');
        return view(updated);
      } catch (err) {
        if (!isStorageError(err, 'conflict') || attempt >= 3) throw err;
      }
    }
  }

  /** The credential whose secret is `secret`, or null (unknown, revoked, or wrong secret). Constant-time compare. */
  async exchange(keyId: string, secret: string, guard?: ReadGuard): Promise<ResolvedKey | null> {
    const given = sha256(secret);
    if (this.operator && keyId === this.operator.resolved.keyId) {
      if (timingSafeEqual(given, this.operator.sha)) return this.operator.resolved;
      guard?.onMiss();
      return null;
    }
    if (this.knownUnknown(keyId)) return null;
    guard?.beforeRead();
    const row = await this.storage.getCredential(keyId);
    if (!row) this.rememberUnknown(keyId);
    if (row?.status !== 'active' || !timingSafeEqual(given, Buffer.from(row.secret_sha256, 'hex'))) {
      guard?.onMiss();
      return null;
    }
    this.touch(keyId);
    return this.resolve(row);
  }

  /** The key of `keyId` (null when unknown), from cache when its status was checked recently. */
  async lookup(keyId: string, guard?: ReadGuard): Promise<ResolvedKey | null> {
    if (this.operator && keyId === this.operator.resolved.keyId) return this.operator.resolved;
    const now = this.clock.now();
    const hit = this.cache.get(keyId);
    // Elapsed time on this server only; a clock stepped back (now before checkedAt) re-reads too.
    if (hit && now >= hit.checkedAt && now - hit.checkedAt < STATUS_TTL_MS) return hit.resolved;
    if (!hit && this.knownUnknown(keyId)) return null;
    // Only a key id this server does not hold asks the guard: a known credential's status re-read never
    // waits on another client's misses.
    if (!hit) guard?.beforeRead();
    const read = this.read(keyId, hit, guard);
    if (!hit) return read;
    // A status checked before: the store gets STALE_WAIT_MS to confirm it. When it is down or slow, nothing
    // newer can be learned in time, so what was last checked stands (the read, if it lands, refreshes the
    // cache): a processor keeps authenticating, and getting stand-in decisions, through an outage.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ResolvedKey>((resolve) => {
      timer = setTimeout(() => resolve(hit.resolved), STALE_WAIT_MS);
    });
    try {
      return await Promise.race([
        read.catch((err: unknown) => {
          if (isStorageError(err, 'unavailable')) return hit.resolved;
          throw err;
        }),
        late,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async read(keyId: string, hit: CacheEntry | undefined, guard?: ReadGuard): Promise<ResolvedKey | null> {
    const row = await this.storage.getCredential(keyId);
    if (!row) {
      this.cache.delete(keyId);
      this.rememberUnknown(keyId);
      guard?.onMiss();
      return null;
    }
    return this.resolve(row, hit);
  }

  /** True while `keyId` is remembered as unknown to the store (read less than the TTL ago on this server). */
  private knownUnknown(keyId: string): boolean {
    const at = this.unknown.get(keyId);
    if (at === undefined) return false;
    const age = this.clock.now() - at;
    if (age >= 0 && age < this.unknownTtlMs) return true;
    this.unknown.delete(keyId);
    return false;
  }

  /** Remembers that the store did not know `keyId`; bounded, the oldest entry goes first. */
  private rememberUnknown(keyId: string): void {
    if (this.unknownTtlMs <= 0) return;
    this.unknown.delete(keyId);
    if (this.unknown.size >= UNKNOWN_KEY_CACHE_SIZE) {
      const oldest = this.unknown.keys().next();
      if (!oldest.done) this.unknown.delete(oldest.value);
    }
    this.unknown.set(keyId, this.clock.now());
  }

  /** Notes a use of `keyId`; writes last_used_at at most once a minute per credential, in the background. */
  touch(keyId: string): void {
    if (this.operator && keyId === this.operator.resolved.keyId) return;
    const now = this.clock.now();
    const last = this.touched.get(keyId);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    this.touched.set(keyId, now);
    const write = this.writeLastUsed(keyId, isoTime(now)).catch(() => {});
    this.writes.add(write);
    void write.then(() => this.writes.delete(write));
  }

  /**
   * Resolves once every last_used_at write started so far has finished (tests, shutdown), or after
   * `maxWaitMs`: a store that never answers must not hold a shutdown (a lost last_used_at is bookkeeping).
   */
  async settled(maxWaitMs = Number.POSITIVE_INFINITY): Promise<void> {
    const all = (async () => {
      while (this.writes.size > 0) await Promise.all([...this.writes]);
    })();
    if (!Number.isFinite(maxWaitMs)) return all;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxWaitMs);
    });
    try {
      await Promise.race([all, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async writeLastUsed(keyId: string, at: string): Promise<void> {
    const row = await this.storage.getCredential(keyId);
    if (!row || (row.last_used_at !== null && row.last_used_at >= at)) return;
    // A lost race (e.g. with a revocation) only skips this write; the next use retries in a minute.
    await this.storage.updateCredential(keyId, row.version, { last_used_at: at });
  }

  private resolve(row: ApiCredential, hit?: { resolved: ResolvedKey; version: number }): ResolvedKey {
    const key =
      hit?.resolved.key ?? createSecretKey(Buffer.from(this.box.open(row.secret_ciphertext, row.key_id), 'utf8'));
    const resolved: ResolvedKey = {
      keyId: row.key_id,
      role: row.role,
      ownerId: row.owner_id,
      status: row.status,
      key,
    };
    this.cache.set(row.key_id, { resolved, checkedAt: this.clock.now(), version: row.version });
    return resolved;
  }
}
