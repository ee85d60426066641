import type { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Middleware, Next } from 'koa';
import koaJwt from 'koa-jwt';
import { AppError, isAppError } from '../../errors/index.js';
import { isStorageError } from '../../storage/index.js';
import type { Clock } from '../../util/clock.js';
import { isTestId } from '../../util/ids.js';
import { AuthError } from '../auth/auth-error.js';
import { type CredentialService, type ReadGuard, type ResolvedKey, withinGrace } from '../auth/credential-service.js';
import { SESSION_KID, SESSION_TYP, type SessionTokens, secretTag } from '../auth/session-tokens.js';
import type { AppContext, Principal } from '../types.js';

/** Longest accepted lifetime (exp - iat) of a client-signed token, in seconds. */
export const MAX_CLIENT_TOKEN_LIFETIME = 3600;

/** Options of {@link authenticate}. */
export interface AuthenticateOptions {
  credentials: CredentialService;
  sessions: SessionTokens;
  clock: Clock;
  /** Tolerated clock difference with clients, in seconds, for exp and iat. Default 60. */
  clockSkewSeconds?: number;
  /** Guards the store read of a key id this server does not hold (e.g. a per-address budget of misses). */
  readGuard?: (ctx: AppContext) => ReadGuard | undefined;
  /** Most verified tokens remembered (0: none); the oldest is forgotten first. Default {@link VERIFIED_TOKEN_CACHE_SIZE}. */
  tokenCacheSize?: number;
}

/** Default bound of the verified-token cache. */
export const VERIFIED_TOKEN_CACHE_SIZE = 10_000;

/**
 * A token whose signature and claims checked out: what a later request with the same token string needs
 * to skip the signature check. The credential is still resolved (status, revocation) on every request.
 */
interface VerifiedToken {
  kind: 'client_token' | 'session_token';
  claims: Record<string, unknown>;
  /** The key that verified the signature; a credential now resolving to another key verifies again. */
  key: KeyObject;
  /** The token's exp in ms; the entry is not used from then on (the injected clock). */
  expMs: number;
}

/**
 * An API key that checked out, by the string sent: the credential and the SHA-256 (by identity, as the
 * credential service holds it) of the secret it matched, so a later request with the same key hashes nothing.
 */
interface VerifiedApiKey {
  keyId: string;
  sha: Buffer;
}

interface PendingAuth {
  kind: 'client_token' | 'session_token' | 'api_key';
  resolved: ResolvedKey | null;
  /** The key the provider handed to koa-jwt. */
  key: KeyObject | null;
  /** Set when the token was found in the verified-token cache: koa-jwt is skipped. */
  cached: VerifiedToken | null;
}

const BEARER = /^Bearer +([A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]*\.[A-Za-z0-9_=-]*) *$/;
/** `<key_id>.<secret>`: one dot, where a JWT has two. */
const API_KEY = /^([a-z]+(?:_live|_test)?_[0-9a-z]+)\.([A-Za-z0-9_-]{1,256})$/;
const BEARER_API_KEY = /^Bearer +([a-z]+(?:_live|_test)?_[0-9a-z]+\.[A-Za-z0-9_-]{1,256}) *$/;

/** The caller a credential makes; its mode follows from its owner (a test twin id for test mode). */
function principalOf(resolved: ResolvedKey, via: Principal['via']): Principal {
  const livemode = resolved.ownerId === null || !isTestId(resolved.ownerId);
  return { keyId: resolved.keyId, role: resolved.role, ownerId: resolved.ownerId, via, livemode };
}

/** A signature that did not verify with the key tried (as opposed to a malformed or expired token). */
function isBadSignature(err: unknown): boolean {
  return (
    (err as { name?: string } | null)?.name === 'JsonWebTokenError' && (err as Error).message === 'invalid signature'
  );
}

function mapFailure(err: unknown): AppError {
  if (err instanceof AuthError) return err;
  // A credential that could not be read is not a bad token: the store is unavailable (503).
  if (isStorageError(err, 'unavailable') || isAppError(err, 'storage_unavailable')) {
    return new AppError('storage_unavailable', 'storage unavailable', { cause: err });
  }
  if ((err as { name?: string } | null)?.name === 'TokenExpiredError') return new AuthError('token_expired');
  return new AuthError('invalid_token');
}

/**
 * Authenticates `Authorization: Bearer <jwt>` with koa-jwt (HS256 only) and sets `ctx.state.principal`.
 * Two kinds of token are accepted: one the client signed with its credential secret (claims key_id, iat,
 * exp; at most one hour apart), and a session token from POST /v1/auth/token, recognised by its header kid
 * and verified with the server's key only. Which key verifies a token is chosen from the unverified token
 * by koa-jwt's secret provider; the claims are trusted only after the signature checks out.
 */
export function authenticate(options: AuthenticateOptions): Middleware[] {
  const { credentials, sessions, clock } = options;
  const skew = options.clockSkewSeconds ?? 60;
  const cacheSize = options.tokenCacheSize ?? VERIFIED_TOKEN_CACHE_SIZE;
  /** Verified tokens by token string, insertion-ordered (the oldest is evicted first). */
  const verified = new Map<string, VerifiedToken>();

  const remember = (token: string, entry: VerifiedToken) => {
    if (cacheSize <= 0) return;
    verified.delete(token);
    while (verified.size >= cacheSize) {
      const oldest = verified.keys().next().value as string;
      verified.delete(oldest);
    }
    verified.set(token, entry);
  };

  /** The cached verification of `token` if it is still usable for this request, else null. */
  const fromCache = async (token: string, guard: ReadGuard | undefined): Promise<PendingAuth | null> => {
    const entry = verified.get(token);
    if (!entry) return null;
    if (clock.now() >= entry.expMs) {
      verified.delete(token);
      return null;
    }
    if (entry.kind === 'session_token') {
      if (entry.key !== sessions.key) return null;
      return { kind: 'session_token', resolved: null, key: entry.key, cached: entry };
    }
    // Status and revocation are checked on every request, as on a full verification.
    const resolved = await credentials.lookup(entry.claims.key_id as string, guard);
    if (!resolved) throw new AuthError('unknown_key');
    if (resolved.status !== 'active') throw new AuthError('token_revoked');
    if (resolved.key !== entry.key) {
      // Signed with the secret a rotation replaced: accepted during its grace period only.
      if (resolved.previous?.key === entry.key) {
        if (!withinGrace(resolved.previous, clock.now())) throw new AuthError('token_revoked');
        return { kind: 'client_token', resolved, key: entry.key, cached: entry };
      }
      // The credential now resolves to another key (a new secret): verify the signature again.
      return null;
    }
    return { kind: 'client_token', resolved, key: entry.key, cached: entry };
  };

  /** Verified API keys by the string sent, insertion-ordered (the oldest is evicted first). */
  const apiKeys = new Map<string, VerifiedApiKey>();

  /**
   * The credential of an API key: from the cache when the key string was verified before and the credential
   * still holds the secret it matched (status and revocation are checked on every request), else verified
   * by the credential service (the secret's SHA-256 compared in constant time with the stored ones).
   */
  const verifyApiKey = async (presented: string, guard: ReadGuard | undefined): Promise<ResolvedKey> => {
    const dot = presented.indexOf('.');
    const keyId = presented.slice(0, dot);
    const entry = apiKeys.get(presented);
    if (entry) {
      const resolved = await credentials.lookup(keyId, guard);
      if (!resolved) throw new AuthError('unknown_key');
      if (resolved.status !== 'active') throw new AuthError('token_revoked');
      if (!resolved.apiKeyAuth) throw new AuthError('api_key_not_enabled');
      if (resolved.sha === entry.sha) return resolved;
      if (resolved.previous?.sha === entry.sha) {
        if (!withinGrace(resolved.previous, clock.now())) throw new AuthError('token_revoked');
        return resolved;
      }
      apiKeys.delete(presented);
    }
    const { resolved, match } = await credentials.verifyApiKey(keyId, presented.slice(dot + 1), guard);
    const sha = match === 'current' ? resolved.sha : resolved.previous?.sha;
    if (cacheSize > 0 && sha) {
      while (apiKeys.size >= cacheSize) apiKeys.delete(apiKeys.keys().next().value as string);
      apiKeys.set(presented, { keyId, sha });
    }
    return resolved;
  };

  /**
   * A client token whose signature did not verify with the credential's current key: it may be signed with
   * the secret the last rotation replaced (accepted during the grace period, `token_revoked` after), or with a
   * secret this server has not seen yet (a rotation on another server: the credential is read again, at most
   * once a second). Returns the claims and the key that verified them.
   */
  const verifyRotated = async (
    token: string,
    start: ResolvedKey,
  ): Promise<{ claims: Record<string, unknown>; key: KeyObject; resolved: ResolvedKey }> => {
    const check = (key: KeyObject): Record<string, unknown> | null => {
      try {
        return jwt.verify(token, key, { algorithms: ['HS256'], clockTolerance: skew }) as Record<string, unknown>;
      } catch (err) {
        if (isBadSignature(err)) return null;
        throw err;
      }
    };
    let resolved = start;
    for (let pass = 0; ; pass++) {
      if (pass > 0) {
        const claims = check(resolved.key);
        if (claims) return { claims, key: resolved.key, resolved };
      }
      if (resolved.previous) {
        const claims = check(resolved.previous.key);
        if (claims) {
          if (!withinGrace(resolved.previous, clock.now())) throw new AuthError('token_revoked');
          return { claims, key: resolved.previous.key, resolved };
        }
      }
      const fresh = pass === 0 ? await credentials.refresh(resolved.keyId) : undefined;
      if (fresh === null) throw new AuthError('unknown_key');
      if (fresh === undefined) throw new AuthError('invalid_token');
      if (fresh.status !== 'active') throw new AuthError('token_revoked');
      resolved = fresh;
    }
  };

  const provider =
    (pending: PendingAuth, guard: ReadGuard | undefined) => async (header: { kid?: unknown }, payload: unknown) => {
      if (header?.kid === SESSION_KID) {
        pending.kind = 'session_token';
        pending.key = sessions.key;
        return sessions.key;
      }
      const keyId = (payload as { key_id?: unknown } | null)?.key_id;
      if (typeof keyId !== 'string' || keyId === '') throw new AuthError('missing_claim');
      const resolved = await credentials.lookup(keyId, guard);
      if (!resolved) throw new AuthError('unknown_key');
      if (resolved.status !== 'active') throw new AuthError('token_revoked');
      pending.resolved = resolved;
      pending.key = resolved.key;
      return resolved.key;
    };

  const prepare = async (ctx: AppContext, next: Next) => {
    const header = ctx.get('authorization');
    const apiKeyHeader = ctx.get('x-api-key');
    const state = ctx.state as unknown as Record<string, unknown>;
    if (apiKeyHeader !== '' || BEARER_API_KEY.test(header)) {
      // Two credentials on one request are refused rather than one of them picked.
      if (apiKeyHeader !== '' && header !== '') throw new AuthError('invalid_token');
      const presented = apiKeyHeader !== '' ? apiKeyHeader.trim() : (BEARER_API_KEY.exec(header)?.[1] as string);
      if (!API_KEY.test(presented)) throw new AuthError('invalid_token');
      let resolved: ResolvedKey;
      try {
        resolved = await verifyApiKey(presented, options.readGuard?.(ctx));
      } catch (err) {
        if (isAppError(err, 'rate_limited')) throw err;
        throw mapFailure(err);
      }
      state.pendingAuth = { kind: 'api_key', resolved, key: null, cached: null } satisfies PendingAuth;
      await next();
      return;
    }
    if (header === '') throw new AuthError('missing_header');
    const match = BEARER.exec(header);
    if (!match) throw new AuthError('invalid_token');
    const token = match[1] as string;
    const guard = options.readGuard?.(ctx);
    let hit: PendingAuth | null;
    try {
      hit = await fromCache(token, guard);
    } catch (err) {
      if (isAppError(err, 'rate_limited')) throw err;
      throw mapFailure(err);
    }
    if (hit) {
      state.pendingAuth = hit;
      state.claims = hit.cached?.claims;
      await next();
      return;
    }
    const pending: PendingAuth = { kind: 'client_token', resolved: null, key: null, cached: null };
    state.bearer = token;
    state.pendingAuth = pending;
    // koa-jwt takes a per-request secret provider from ctx.state.secret.
    state.secret = provider(pending, guard);
    await next();
  };

  const verifier = koaJwt({
    secret: () => Promise.reject(new Error('unused: the provider comes from ctx.state.secret')),
    algorithms: ['HS256'],
    passthrough: true,
    key: 'claims',
    getToken: (ctx) => (ctx.state as { bearer?: string }).bearer ?? null,
    // Passed through to jsonwebtoken.verify.
    ...({ clockTolerance: skew } as object),
  });

  // A token found in the cache skips koa-jwt (its signature and claims were checked when it was cached).
  // So does an API key (checked in prepare).
  const verify = (ctx: AppContext, next: Next) => {
    const pending = (ctx.state as { pendingAuth?: PendingAuth }).pendingAuth;
    return pending?.cached || pending?.kind === 'api_key' ? next() : verifier(ctx as never, next);
  };

  const finish = async (ctx: AppContext, next: Next) => {
    const state = ctx.state as unknown as {
      jwtOriginalError?: unknown;
      claims?: Record<string, unknown>;
      pendingAuth: PendingAuth;
      secret?: unknown;
      bearer?: string;
    };
    const failure = state.jwtOriginalError;
    let claims = state.claims;
    const pending = state.pendingAuth;
    const token = state.bearer;
    state.secret = undefined;
    state.bearer = undefined;
    if (pending.kind === 'api_key') {
      const resolved = pending.resolved as ResolvedKey;
      credentials.touch(resolved.keyId);
      ctx.state.principal = principalOf(resolved, 'api_key');
      await next();
      return;
    }
    // A refused store read (the per-address budget of unknown key ids) is a 429, not a bad token.
    if (isAppError(failure, 'rate_limited')) throw failure;
    if (
      isBadSignature(failure) &&
      pending.kind === 'client_token' &&
      pending.resolved !== null &&
      token !== undefined
    ) {
      try {
        const recovered = await verifyRotated(token, pending.resolved);
        claims = recovered.claims;
        pending.resolved = recovered.resolved;
        pending.key = recovered.key;
      } catch (err) {
        throw mapFailure(err);
      }
    } else if (failure !== undefined || !claims) throw mapFailure(failure);
    if (!claims) throw new AuthError('invalid_token');
    const nowSec = Math.floor(clock.now() / 1000);
    let principal: Principal;
    if (pending.kind === 'session_token') {
      if (claims.typ !== SESSION_TYP || claims.iss !== 'allowance' || typeof claims.sub !== 'string') {
        throw new AuthError('invalid_token');
      }
      let resolved = await credentials.lookup(claims.sub);
      if (!resolved) throw new AuthError('unknown_key');
      if (resolved.status !== 'active') throw new AuthError('token_revoked');
      // A session exchanged with a secret that is no longer the current one: accepted while that secret is
      // in its grace period. A tag this server does not know may come from a rotation on another server.
      const sec = claims.sec;
      if (typeof sec === 'string' && sec !== secretTag(resolved.sha)) {
        if (!(resolved.previous && sec === secretTag(resolved.previous.sha))) {
          const fresh = await credentials.refresh(resolved.keyId);
          if (fresh) resolved = fresh;
        }
        const current = sec === secretTag(resolved.sha);
        const previous = resolved.previous && sec === secretTag(resolved.previous.sha);
        if (resolved.status !== 'active') throw new AuthError('token_revoked');
        if (!current && !(previous && resolved.previous && withinGrace(resolved.previous, clock.now()))) {
          throw new AuthError('token_revoked');
        }
      }
      principal = principalOf(resolved, 'session_token');
    } else {
      const resolved = pending.resolved as ResolvedKey;
      const { iat, exp } = claims;
      if (typeof iat !== 'number' || typeof exp !== 'number') throw new AuthError('missing_claim');
      if (exp - iat > MAX_CLIENT_TOKEN_LIFETIME) throw new AuthError('lifetime_too_long');
      if (iat > nowSec + skew) throw new AuthError('invalid_token');
      principal = principalOf(resolved, 'client_token');
    }
    // Only a token verified by koa-jwt just now enters the cache, valid until its exp.
    if (token !== undefined && pending.cached === null && pending.key !== null && typeof claims.exp === 'number') {
      remember(token, { kind: pending.kind, claims, key: pending.key, expMs: claims.exp * 1000 });
    }
    credentials.touch(principal.keyId);
    ctx.state.principal = principal;
    await next();
  };

  return [prepare as Middleware, verify as Middleware, finish as Middleware];
}
