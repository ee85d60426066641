import type { KeyObject } from 'node:crypto';
import type { Middleware, Next } from 'koa';
import koaJwt from 'koa-jwt';
import { AppError, isAppError } from '../../errors/index.js';
import { isStorageError } from '../../storage/index.js';
import type { Clock } from '../../util/clock.js';
import { AuthError } from '../auth/auth-error.js';
import type { CredentialService, ReadGuard, ResolvedKey } from '../auth/credential-service.js';
import { SESSION_KID, SESSION_TYP, type SessionTokens } from '../auth/session-tokens.js';
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

interface PendingAuth {
  kind: 'client_token' | 'session_token';
  resolved: ResolvedKey | null;
  /** The key the provider handed to koa-jwt. */
  key: KeyObject | null;
  /** Set when the token was found in the verified-token cache: koa-jwt is skipped. */
  cached: VerifiedToken | null;
}

const BEARER = /^Bearer +([A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]*\.[A-Za-z0-9_=-]*) *$/;

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
    // The credential now resolves to another key (a new secret): verify the signature again.
    if (resolved.key !== entry.key) return null;
    return { kind: 'client_token', resolved, key: entry.key, cached: entry };
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
    if (header === '') throw new AuthError('missing_header');
    const match = BEARER.exec(header);
    if (!match) throw new AuthError('invalid_token');
    const token = match[1] as string;
    const guard = options.readGuard?.(ctx);
    const state = ctx.state as unknown as Record<string, unknown>;
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
  const verify = (ctx: AppContext, next: Next) =>
    (ctx.state as { pendingAuth?: PendingAuth }).pendingAuth?.cached ? next() : verifier(ctx as never, next);

  const finish = async (ctx: AppContext, next: Next) => {
    const state = ctx.state as unknown as {
      jwtOriginalError?: unknown;
      claims?: Record<string, unknown>;
      pendingAuth: PendingAuth;
      secret?: unknown;
      bearer?: string;
    };
    const failure = state.jwtOriginalError;
    const claims = state.claims;
    const pending = state.pendingAuth;
    const token = state.bearer;
    state.secret = undefined;
    state.bearer = undefined;
    // A refused store read (the per-address budget of unknown key ids) is a 429, not a bad token.
    if (isAppError(failure, 'rate_limited')) throw failure;
    if (failure !== undefined || !claims) throw mapFailure(failure);
    const nowSec = Math.floor(clock.now() / 1000);
    let principal: Principal;
    if (pending.kind === 'session_token') {
      if (claims.typ !== SESSION_TYP || claims.iss !== 'allowance' || typeof claims.sub !== 'string') {
        throw new AuthError('invalid_token');
      }
      const resolved = await credentials.lookup(claims.sub);
      if (!resolved) throw new AuthError('unknown_key');
      if (resolved.status !== 'active') throw new AuthError('token_revoked');
      principal = { keyId: resolved.keyId, role: resolved.role, ownerId: resolved.ownerId, via: 'session_token' };
    } else {
      const resolved = pending.resolved as ResolvedKey;
      const { iat, exp } = claims;
      if (typeof iat !== 'number' || typeof exp !== 'number') throw new AuthError('missing_claim');
      if (exp - iat > MAX_CLIENT_TOKEN_LIFETIME) throw new AuthError('lifetime_too_long');
      if (iat > nowSec + skew) throw new AuthError('invalid_token');
      principal = { keyId: resolved.keyId, role: resolved.role, ownerId: resolved.ownerId, via: 'client_token' };
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
