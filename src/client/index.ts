// The typed client of the Allowance HTTP API (`allowance/client`): the paths and bodies are typed from the
// app's own OpenAPI document (generated at build time), requests go through openapi-fetch. Guide:
// docs/api-processors.md and docs/api-enterprises.md.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import createFetchClient, { type Client, type Middleware } from 'openapi-fetch';
import { verifyJws } from '../crypto/jws.js';
import type { Jwks } from '../crypto/signing-keys.js';
import type { components, operations, paths } from './generated/api.js';
// Routes without authentication (from the same document): no token is made or sent for them.
import { PUBLIC_PATHS } from './generated/public-paths.js';

export type { components, operations, paths };
/** Every schema of the API by name, e.g. `Schemas['Decision']`. */
export type Schemas = components['schemas'];
export type Decision = Schemas['Decision'];
export type AuthorizeRequest = Schemas['AuthorizeRequest'];

/** The `error` object of every error response. */
export interface ApiErrorBody {
  code: string;
  message: string;
  reason?: string;
  request_id?: string;
  details?: unknown;
}

/** An error response of the API: `code` (stable, src/errors/error-codes.ts) and, for 401, `reason`. */
export class AllowanceApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly reason: string | undefined;
  readonly requestId: string | undefined;
  readonly details: unknown;

  constructor(status: number, error: ApiErrorBody) {
    super(`${error.code}${error.reason ? ` (${error.reason})` : ''}: ${error.message}`);
    this.name = 'AllowanceApiError';
    this.status = status;
    this.code = error.code;
    this.reason = error.reason;
    this.requestId = error.request_id;
    this.details = error.details;
  }
}

/** Why a decision's proof was refused by {@link AllowanceClient.verifyDecision}. */
export type ProofFailure = 'malformed' | 'unsupported_alg' | 'unknown_kid' | 'bad_signature' | 'payload_mismatch';

/** A decision whose proof does not verify against the server's JWKS, or does not sign this decision. */
export class ProofVerificationError extends Error {
  readonly reason: ProofFailure;

  constructor(reason: ProofFailure) {
    super(`decision proof refused: ${reason}`);
    this.name = 'ProofVerificationError';
    this.reason = reason;
  }
}

/** How {@link AllowanceClient.authorize} retries. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  attempts: number;
  /** Delay before retry n: uniform in [0, min(capMs, baseMs·2^(n−1))] (full jitter). Defaults 100 and 2,000. */
  baseMs: number;
  capMs: number;
}

/** Settings of {@link createAllowanceClient}. */
export interface AllowanceClientOptions {
  /** The server, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** A credential (key id and secret, as shown once at creation). */
  credential?: { keyId: string; secret: string };
  /**
   * `client` (default): a short-lived HS256 JWT signed per request with the secret. `session`: the
   * credential is exchanged at POST /v1/auth/token and the session token reused until shortly before it ends.
   * `api_key`: the key id and secret themselves in `x-api-key` on every request (the credential must have
   * been created with `api_key_auth: true`).
   */
  auth?: 'client' | 'session' | 'api_key';
  /** A ready bearer token instead of a credential. */
  token?: string;
  /** Lifetime of client-signed tokens in seconds. Default 300 (the server accepts at most 3,600). */
  tokenLifetimeSeconds?: number;
  retry?: Partial<RetryOptions>;
  /** Time of one authorize attempt in ms before it is aborted and retried. Default 10,000. */
  timeoutMs?: number;
  /** Least time between two JWKS fetches caused by an unknown kid, in ms. Default 10,000. */
  jwksRefreshMs?: number;
  /** Sends one Request. Default: the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** Clock of token claims and session expiry, in ms. Default Date.now. */
  now?: () => number;
  /** Waits between retries. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Random in [0, 1) for retry jitter. Default Math.random. */
  random?: () => number;
}

/** What {@link createAllowanceClient} returns. */
export interface AllowanceClient {
  /** The typed openapi-fetch client (every path of the API); authentication is added to every request. */
  api: Client<paths>;
  /**
   * POST /v1/authorize. Network errors, timeouts, 5xx, 429 (after Retry-After, at most `capMs`) and
   * `idempotency_in_progress` are retried with backoff and the very same body (same `authorization_id`),
   * which the server answers idempotently; any other error throws {@link AllowanceApiError} at once.
   */
  authorize(body: AuthorizeRequest): Promise<Decision>;
  /**
   * Verifies a decision's proof against the server's JWKS (cached; fetched again once when the proof names
   * an unknown kid, at most every `jwksRefreshMs`) and that the proof signs exactly this decision. Returns
   * the signed payload and kid.
   */
  verifyDecision(decision: Decision): Promise<{ payload: Record<string, unknown>; kid: string }>;
  /** The JWKS (cached after the first call; `refresh` fetches it again). */
  jwks(refresh?: boolean): Promise<Jwks>;
  /** The data of an openapi-fetch result, or its error as {@link AllowanceApiError}. */
  unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T;
}

const enc = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const HS256_HEADER = enc({ alg: 'HS256', typ: 'JWT' });

/** A client-signed HS256 JWT (`key_id`, `iat`, `exp`), as the server expects; `key` is the cached secret. */
export function signClientToken(keyId: string, key: KeyObject, nowSeconds: number, lifetimeSeconds: number): string {
  const input = `${HS256_HEADER}.${enc({ key_id: keyId, iat: nowSeconds, exp: nowSeconds + lifetimeSeconds })}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

function apiError(status: number, body: unknown): AllowanceApiError {
  const e = (body as { error?: Partial<ApiErrorBody> } | null)?.error;
  if (e && typeof e.code === 'string') return new AllowanceApiError(status, e as ApiErrorBody);
  return new AllowanceApiError(status, { code: `http_${status}`, message: `HTTP ${status} without an error body` });
}

function retryable(err: unknown): boolean {
  if (!(err instanceof AllowanceApiError)) return true; // network error: the request may or may not have arrived
  return err.status >= 500 || err.status === 429 || err.code === 'idempotency_in_progress';
}

/** A client of one server with one credential (or token). */
export function createAllowanceClient(options: AllowanceClientOptions): AllowanceClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? ((input: Request) => fetch(input));
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((ok) => setTimeout(ok, ms)));
  const random = options.random ?? Math.random;
  const lifetime = options.tokenLifetimeSeconds ?? 300;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const jwksRefreshMs = options.jwksRefreshMs ?? 10_000;
  const retry: RetryOptions = { attempts: 4, baseMs: 100, capMs: 2_000, ...options.retry };
  const credential = options.credential;
  const secretKey = credential ? createSecretKey(Buffer.from(credential.secret, 'utf8')) : null;

  let session: { token: string; until: number } | null = null;
  let exchanging: Promise<string> | null = null;
  const exchange = async (): Promise<string> => {
    if (!credential) throw new Error('auth: session needs a credential');
    const res = await fetchImpl(
      new Request(`${baseUrl}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key_id: credential.keyId, secret: credential.secret }),
      }),
    );
    const body = (await res.json().catch(() => null)) as Schemas['SessionToken'] | null;
    if (!res.ok || !body) throw apiError(res.status, body);
    // Renewed a minute before it ends, so a token never expires between here and the server.
    session = { token: body.access_token, until: now() + Math.max(0, body.expires_in - 60) * 1000 };
    return body.access_token;
  };
  const bearer = async (): Promise<string | null> => {
    if (options.token) return options.token;
    if (!credential || !secretKey) return null;
    if (options.auth === 'session') {
      if (session && now() < session.until) return session.token;
      exchanging ??= exchange().finally(() => {
        exchanging = null;
      });
      return exchanging;
    }
    return signClientToken(credential.keyId, secretKey, Math.floor(now() / 1000), lifetime);
  };

  const authMiddleware: Middleware = {
    async onRequest({ request, schemaPath }) {
      if (PUBLIC_PATHS.has(schemaPath)) return request;
      if (options.auth === 'api_key' && credential && !options.token) {
        if (!request.headers.has('authorization') && !request.headers.has('x-api-key')) {
          request.headers.set('x-api-key', `${credential.keyId}.${credential.secret}`);
        }
        return request;
      }
      const token = await bearer();
      if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  };
  const api = createFetchClient<paths>({ baseUrl, fetch: fetchImpl });
  api.use(authMiddleware);

  const unwrap = <T>(result: { data?: T; error?: unknown; response: Response }): T => {
    if (result.response.ok) return result.data as T;
    throw apiError(result.response.status, result.error);
  };

  let jwksCache: Promise<Jwks> | null = null;
  let jwksFetchedAt = Number.NEGATIVE_INFINITY;
  const jwks = (refresh = false): Promise<Jwks> => {
    if (refresh || !jwksCache) {
      jwksFetchedAt = now();
      const loading = api.GET('/.well-known/jwks.json').then((r) => unwrap(r) as Jwks);
      jwksCache = loading;
      loading.catch(() => {
        if (jwksCache === loading) jwksCache = null;
      });
    }
    return jwksCache;
  };

  return {
    api,
    unwrap,
    jwks,
    async authorize(body) {
      const frozen = structuredClone(body);
      for (let attempt = 1; ; attempt++) {
        let failure: unknown;
        let retryAfterSeconds = Number.NaN;
        try {
          const result = await api.POST('/v1/authorize', { body: frozen, signal: AbortSignal.timeout(timeoutMs) });
          if (result.response.ok) return result.data as Decision;
          failure = apiError(result.response.status, result.error);
          retryAfterSeconds = Number(result.response.headers.get('retry-after') ?? Number.NaN);
        } catch (err) {
          failure = err; // network error or timeout: the request may or may not have reached the server
        }
        if (attempt >= retry.attempts || !retryable(failure)) throw failure;
        const ceiling = Math.min(retry.capMs, retry.baseMs * 2 ** (attempt - 1));
        await sleep(
          Number.isFinite(retryAfterSeconds)
            ? Math.min(retry.capMs, retryAfterSeconds * 1000)
            : Math.floor(random() * ceiling),
        );
      }
    },
    async verifyDecision(decision) {
      let result = verifyJws(decision.proof, await jwks());
      // A key rotated in after the JWKS was cached: fetch it once more before refusing, but not more often
      // than jwksRefreshMs, so proofs naming a kid the server does not publish cannot flood it.
      if (!result.ok && result.reason === 'unknown_kid' && now() - jwksFetchedAt >= jwksRefreshMs) {
        result = verifyJws(decision.proof, await jwks(true));
      }
      if (!result.ok) throw new ProofVerificationError(result.reason);
      const { proof: _proof, ...fields } = decision;
      if (!isDeepStrictEqual(result.payload, fields)) throw new ProofVerificationError('payload_mismatch');
      return { payload: result.payload, kid: result.kid };
    },
  };
}
