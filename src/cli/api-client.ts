import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';

/** Exit statuses of the `allowance` CLI. */
export const EXIT = {
  /** The operation succeeded. */
  ok: 0,
  /** The operation failed: tests failed, the server refused the request (4xx), the tree is dirty, … */
  failure: 1,
  /** Wrong command line or missing configuration (credentials, server URL). */
  usage: 2,
  /** The server could not be reached, timed out or answered with a 5xx. */
  server: 3,
} as const;

/** An error that ends the command with the given exit status and message. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The server's error body, when there is one (printed with --json). */
  readonly body: unknown;

  constructor(exitCode: number, message: string, body?: unknown) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.body = body;
  }
}

/** A response of the API: its status and parsed JSON body. */
export interface ApiResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the body is printed or read field by field
  body: any;
}

/** Connection settings of {@link ApiClient}. */
export interface ApiClientOptions {
  server: string;
  keyId: string;
  secret: string;
  /** Per request, in milliseconds. */
  timeoutMs: number;
}

interface ErrorBody {
  error?: { code?: string; message?: string; reason?: string; details?: { problem?: string; detail?: string } };
}

/** `code: message (problem: detail)` from an error response, as far as it goes. */
export function describeApiError(status: number, body: unknown): string {
  const e = (body as ErrorBody | null)?.error;
  if (e === undefined) return `HTTP ${status}`;
  let text = `${e.code ?? `HTTP ${status}`}: ${e.message ?? ''}`.trim();
  if (e.reason) text += ` (reason: ${e.reason})`;
  if (e.details?.problem) text += ` (problem: ${e.details.problem}${e.details.detail ? `: ${e.details.detail}` : ''})`;
  return text;
}

/**
 * Calls the Allowance HTTP API with a credential: each request carries a fresh client-signed
 * HS256 token `{key_id, iat, exp: iat + 300}`, as the README shows. 4xx answers become a
 * CliError with exit status 1, 5xx, timeouts and connection errors exit status 3.
 */
export class ApiClient {
  readonly server: string;
  private readonly keyId: string;
  private readonly key: ReturnType<typeof createSecretKey>;
  private readonly timeoutMs: number;

  constructor(options: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new CliError(EXIT.usage, `--server: not a URL: ${options.server}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CliError(EXIT.usage, `--server: must be an http or https URL: ${options.server}`);
    }
    this.server = url.href.replace(/\/+$/, '');
    this.keyId = options.keyId;
    this.key = createSecretKey(Buffer.from(options.secret, 'utf8'));
    this.timeoutMs = options.timeoutMs;
  }

  private token(): string {
    const now = Math.floor(Date.now() / 1000);
    return jwt.sign({ key_id: this.keyId, iat: now, exp: now + 300 }, this.key, { algorithm: 'HS256' });
  }

  /**
   * Sends one request. `body` is JSON unless it is bytes (sent as application/gzip).
   * Returns 2xx answers; throws CliError for everything else.
   */
  async request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token()}`, accept: 'application/json' };
    let payload: Uint8Array | string | undefined;
    if (body instanceof Uint8Array) {
      headers['content-type'] = 'application/gzip';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'manual',
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new CliError(EXIT.server, `${method} ${this.server}${path}: ${why}`);
    }
    const text = await res.text();
    let parsed: unknown = null;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { raw: text.slice(0, 500) };
      }
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, body: parsed };
    const message = `${method} ${path}: ${res.status} ${describeApiError(res.status, parsed)}`;
    throw new CliError(res.status >= 500 ? EXIT.server : EXIT.failure, message, parsed);
  }
}
