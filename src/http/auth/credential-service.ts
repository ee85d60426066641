import { createHash, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditDraft } from '../../audit/index.js';
import type { SecretBox } from '../../crypto/index.js';
import type { DraftSpec } from '../../engine/index.js';
import { AppError } from '../../errors/index.js';
import { DEFAULT_ROTATION_GRACE_SECONDS, MAX_ROTATION_GRACE_SECONDS } from '../../schemas/index.js';
import type { ApiCredential, CredentialRole, CredentialStorage, Page } from '../../storage/index.js';
import { isStorageError } from '../../storage/index.js';
import { type Clock, isoTime } from '../../util/clock.js';
import { isTestId, newId } from '../../util/ids.js';
import { AuthError } from './auth-error.js';

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
  /** False for a test-mode credential (its owner is the test twin of the org or processor). */
  livemode: boolean;
  /** Whether `x-api-key: <key_id>.<secret>` authenticates it (chosen at creation). */
  api_key_auth: boolean;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  /** When the secret was last rotated (the store's clock), or null. */
  rotated_at: string | null;
  /** Until when the secret replaced by the last rotation is still accepted (the store's clock), or null. */
  previous_secret_expires_at: string | null;
}

/** The secret a rotation replaced, as this server holds it. */
export interface PreviousSecret {
  key: KeyObject;
  sha: Buffer;
  /**
   * Until when it is accepted, on this server's clock: the time the store had left on its own clock when it
   * was read, counted from just before that read (so never later than the store's end of the grace period).
   */
  validUntil: number;
}

/** Whether a rotated-out secret is still accepted now: its grace period, measured as described above. */
export function withinGrace(previous: PreviousSecret, nowMs: number): boolean {
  return nowMs < previous.validUntil;
}

/** What verifying a token needs about its credential. */
export interface ResolvedKey {
  keyId: string;
  role: CredentialRole;
  ownerId: string | null;
  status: 'active' | 'revoked';
  /** The HMAC key, as a KeyObject: verifying with one is ~50× cheaper than with a string secret. */
  key: KeyObject;
  /** SHA-256 of the current secret (an API key or an exchange is compared with it). */
  sha: Buffer;
  /** Whether the credential may authenticate with `x-api-key`. */
  apiKeyAuth: boolean;
  /** The secret the last rotation replaced, while the credential keeps it (accepted or not: see validUntil). */
  previous: PreviousSecret | null;
}

/** Which secret of a credential an API key or a signature matched. */
export type SecretMatch = 'current' | 'previous';

const KEY_PREFIX: Record<CredentialRole, string> = { enterprise: 'ek', processor: 'pk', operator: 'op' };
/** How long a cached credential's status is trusted before it is read again (a revocation elsewhere). */
const STATUS_TTL_MS = 30_000;

/** How long a request waits for the store to confirm a status checked before, once its TTL is over. */
const STALE_WAIT_MS = 200;
/** last_used_at is written at most this often per credential. */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * A credential whose secret did not verify a request is read again (a rotation made on another server) at
 * most this often per credential, so bad signatures cannot make every request a store read.
 */
export const KEY_REFRESH_INTERVAL_MS = 1_000;
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
    livemode: c.owner_id === null || !isTestId(c.owner_id),
    api_key_auth: c.api_key_auth === true,
    created_at: c.created_at,
    revoked_at: c.revoked_at,
    last_used_at: c.last_used_at,
    rotated_at: c.rotated_at ?? null,
    previous_secret_expires_at: c.previous_secret_expires_at ?? null,
  };
}

/**
 * A fresh credential secret. Its prefix tells the mode (`sk_live_…`, `sk_test_…`), as the key id's does;
 * secrets made before modes existed are `sk_…` and live.
 */
function newSecret(livemode: boolean): string {
  return `sk_${livemode ? 'live' : 'test'}_${randomBytes(32).toString('base64url')}`;
}

/** Which stored secret of `row` has the SHA-256 `given` (constant-time compares), or null. */
function matchSecret(row: ApiCredential, given: Buffer): SecretMatch | null {
  const current = timingSafeEqual(given, Buffer.from(row.secret_sha256, 'hex'));
  const previous =
    typeof row.previous_secret_sha256 === 'string' &&
    row.previous_secret_sha256.length === 64 &&
    timingSafeEqual(given, Buffer.from(row.previous_secret_sha256, 'hex'));
  return current ? 'current' : previous ? 'previous' : null;
}

/** Which secret of a resolved credential has the SHA-256 `given` (constant-time compares), or null. */
export function matchResolved(resolved: ResolvedKey, given: Buffer): SecretMatch | null {
  if (timingSafeEqual(given, resolved.sha)) return 'current';
  if (resolved.previous && timingSafeEqual(given, resolved.previous.sha)) return 'previous';
  return null;
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
        sha: sha256(operator.secret),
        apiKeyAuth: false,
        previous: null,
      },
      sha: sha256(operator.secret),
    };
  }

  /**
   * Creates a credential and returns it with its secret, which is never shown again. `apiKeyAuth` lets it
   * also authenticate by sending the key id and secret themselves (`x-api-key`); off by default.
   */
  async create(
    role: CredentialRole,
    ownerId: string | null,
    name: string | null = null,
    actor?: string,
    options: { apiKeyAuth?: boolean } = {},
  ): Promise<CreatedCredential> {
    const now = this.clock.now();
    // The owner is the org or processor itself (live) or its test twin (test): the mode follows from it.
    const livemode = ownerId === null || !isTestId(ownerId);
    const keyId = newId(`${KEY_PREFIX[role]}_${livemode ? 'live' : 'test'}`, now);
    const secret = newSecret(livemode);
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
      api_key_auth: options.apiKeyAuth === true,
      version: 0,
    };
    await this.storage.insertCredential(row, this.credentialDraft(row, 'credential.created', actor, now));
    this.unknown.delete(keyId);
    return { ...view(row), secret };
  }

  /** The audit draft of an enterprise credential's change (processor credentials belong to no org trail). */
  private credentialDraft(
    row: ApiCredential,
    type: 'credential.created' | 'credential.revoked' | 'credential.rotated',
    actor: string | undefined,
    atMs: number,
    extra: Record<string, string | number | boolean | null> = {},
  ): AuditDraft[] | undefined {
    if (row.role !== 'enterprise' || row.owner_id === null) return undefined;
    return this.drafts({
      orgId: row.owner_id,
      type,
      subject: { kind: 'credential', id: row.key_id },
      agentId: null,
      payload: {
        key_id: row.key_id,
        name: row.name,
        role: row.role,
        created_at: row.created_at,
        api_key_auth: row.api_key_auth === true,
        ...extra,
      },
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

  /**
   * Gives the credential `keyId` (of `ownerId`; any owner when null) a new secret, returned this once. The
   * secret it replaces keeps working for `graceSeconds` more (0: refused at once), judged by the store's
   * clock: its end is written as the store's time at the read plus the grace, and every server compares it
   * only with the store's time of its own reads. A second rotation drops the secret the first one replaced.
   */
  async rotate(
    keyId: string,
    ownerId: string | null,
    graceSeconds: number = DEFAULT_ROTATION_GRACE_SECONDS,
    actor?: string,
  ): Promise<CreatedCredential> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_ROTATION_GRACE_SECONDS) {
      throw new AppError('validation_failed', `grace_period_seconds must be 0 to ${MAX_ROTATION_GRACE_SECONDS}`);
    }
    for (let attempt = 0; ; attempt++) {
      const read = await this.storage.readCredential(keyId);
      const row = read?.credential;
      if (!read || !row || (ownerId !== null && row.owner_id !== ownerId)) {
        throw new AppError('not_found', 'credential not found');
      }
      if (row.status !== 'active') throw new AppError('invalid_state', 'a revoked credential cannot be rotated');
      const secret = newSecret(row.owner_id === null || !isTestId(row.owner_id));
      const rotatedAt = isoTime(read.storeTimeMs);
      const patch: Partial<ApiCredential> = {
        secret_sha256: sha256(secret).toString('hex'),
        secret_ciphertext: this.box.seal(secret, keyId),
        secret_last4: secret.slice(-4),
        previous_secret_sha256: row.secret_sha256,
        previous_secret_ciphertext: row.secret_ciphertext,
        previous_secret_expires_at: isoTime(read.storeTimeMs + graceSeconds * 1000),
        rotated_at: rotatedAt,
      };
      try {
        const updated = await this.storage.updateCredential(
          keyId,
          row.version,
          patch,
          this.credentialDraft({ ...row, ...patch }, 'credential.rotated', actor, this.clock.now(), {
            rotated_at: rotatedAt,
            grace_period_seconds: graceSeconds,
            previous_secret_expires_at: patch.previous_secret_expires_at ?? null,
          }),
        );
        this.cache.delete(keyId);
        if (!updated) throw new AppError('not_found', 'credential not found');
        return { ...view(updated), secret };
      } catch (err) {
        // A lost compare-and-set (a last_used_at write, a revocation, another rotation): read again.
        if (!isStorageError(err, 'conflict') || attempt >= 3) throw err;
      }
    }
  }

  /**
   * The credential whose secret is `secret`, or null (unknown, revoked, or wrong secret). Constant-time
   * compare, with the current secret and, during its grace period, the one the last rotation replaced; that
   * one after its grace period is `token_revoked`.
   */
  async exchange(
    keyId: string,
    secret: string,
    guard?: ReadGuard,
  ): Promise<{ resolved: ResolvedKey; secretSha: Buffer } | null> {
    const given = sha256(secret);
    if (this.operator && keyId === this.operator.resolved.keyId) {
      if (timingSafeEqual(given, this.operator.sha)) return { resolved: this.operator.resolved, secretSha: given };
      guard?.onMiss();
      return null;
    }
    if (this.knownUnknown(keyId)) return null;
    guard?.beforeRead();
    const startedAt = this.clock.now();
    const read = await this.storage.readCredential(keyId);
    if (!read) this.rememberUnknown(keyId);
    const match = read?.credential.status === 'active' ? matchSecret(read.credential, given) : null;
    if (!read || match === null) {
      guard?.onMiss();
      return null;
    }
    const resolved = this.resolve(read.credential, read.storeTimeMs, startedAt);
    if (match === 'previous' && !(resolved.previous && withinGrace(resolved.previous, this.clock.now()))) {
      throw new AuthError('token_revoked');
    }
    this.touch(keyId);
    return { resolved, secretSha: given };
  }

  /**
   * Checks an API key (`<key_id>.<secret>` sent on a request) and returns the credential and which of its
   * secrets matched; throws the 401 of the failure: `unknown_key`, `token_revoked` (a revoked credential, or
   * a rotated-out secret after its grace period), `api_key_not_enabled`, `invalid_token` (a wrong secret).
   * The secret's SHA-256 is compared in constant time with the stored ones. A wrong secret reads the
   * credential again (at most once per {@link KEY_REFRESH_INTERVAL_MS}) in case another server rotated it.
   */
  async verifyApiKey(
    keyId: string,
    secret: string,
    guard?: ReadGuard,
  ): Promise<{ resolved: ResolvedKey; match: SecretMatch }> {
    const given = sha256(secret);
    let resolved = await this.lookup(keyId, guard);
    for (let pass = 0; ; pass++) {
      if (!resolved) throw new AuthError('unknown_key');
      if (resolved.status !== 'active') throw new AuthError('token_revoked');
      if (!resolved.apiKeyAuth) throw new AuthError('api_key_not_enabled');
      const match = matchResolved(resolved, given);
      if (match === 'current') return { resolved, match };
      if (match === 'previous') {
        if (resolved.previous && withinGrace(resolved.previous, this.clock.now())) return { resolved, match };
        throw new AuthError('token_revoked');
      }
      const fresh = pass === 0 ? await this.refresh(keyId) : undefined;
      if (fresh === undefined) throw new AuthError('invalid_token');
      resolved = fresh;
    }
  }

  /**
   * Reads `keyId` again when its cached copy is older than {@link KEY_REFRESH_INTERVAL_MS} (a secret that
   * did not verify may have been rotated on another server); undefined when it was read too recently.
   */
  async refresh(keyId: string): Promise<ResolvedKey | null | undefined> {
    if (this.operator && keyId === this.operator.resolved.keyId) return undefined;
    const hit = this.cache.get(keyId);
    const now = this.clock.now();
    if (hit && now >= hit.checkedAt && now - hit.checkedAt < KEY_REFRESH_INTERVAL_MS) return undefined;
    return this.read(keyId, hit);
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
    const startedAt = this.clock.now();
    const read = await this.storage.readCredential(keyId);
    if (!read) {
      this.cache.delete(keyId);
      this.rememberUnknown(keyId);
      guard?.onMiss();
      return null;
    }
    return this.resolve(read.credential, read.storeTimeMs, startedAt, hit);
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

  /**
   * The resolved key of a row read at `storeTimeMs` (the store's clock), the read having started at
   * `startedAt` (this server's clock). KeyObjects of a cached copy are kept while the secrets are the same,
   * so a re-read does not unseal again and cached verifications (which compare keys by identity) stay valid.
   */
  private resolve(row: ApiCredential, storeTimeMs: number, startedAt: number, hit?: CacheEntry): ResolvedKey {
    const sha = Buffer.from(row.secret_sha256, 'hex');
    const before = hit ?? this.cache.get(row.key_id);
    const sameCurrent = before?.resolved.sha.equals(sha) === true;
    const key = sameCurrent
      ? (before?.resolved.key as KeyObject)
      : createSecretKey(Buffer.from(this.box.open(row.secret_ciphertext, row.key_id), 'utf8'));
    let previous: PreviousSecret | null = null;
    if (row.previous_secret_sha256 && row.previous_secret_ciphertext && row.previous_secret_expires_at) {
      const prevSha = Buffer.from(row.previous_secret_sha256, 'hex');
      // The secret a rotation replaced was usually this server's current one: keep its KeyObject, so tokens
      // verified with it before the rotation are recognised in the cache as signed with the previous secret.
      const kept = before?.resolved.previous?.sha.equals(prevSha)
        ? before.resolved.previous
        : before?.resolved.sha.equals(prevSha)
          ? { key: before.resolved.key, sha: before.resolved.sha }
          : undefined;
      const prevKey =
        kept?.key ?? createSecretKey(Buffer.from(this.box.open(row.previous_secret_ciphertext, row.key_id), 'utf8'));
      const left = Date.parse(row.previous_secret_expires_at) - storeTimeMs;
      previous = { key: prevKey, sha: kept?.sha ?? prevSha, validUntil: startedAt + left };
    }
    const resolved: ResolvedKey = {
      keyId: row.key_id,
      role: row.role,
      ownerId: row.owner_id,
      status: row.status,
      key,
      sha: sameCurrent ? (before?.resolved.sha as Buffer) : sha,
      apiKeyAuth: row.api_key_auth === true,
      previous,
    };
    this.cache.set(row.key_id, { resolved, checkedAt: this.clock.now(), version: row.version });
    return resolved;
  }
}
