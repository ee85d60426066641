import type { Client } from 'openapi-fetch';
import type { paths } from '../client/generated/api.js';
import { createAllowanceClient } from '../client/index.js';

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

/** A 2xx answer: its status and parsed JSON body. */
export interface CliAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the body is printed or read field by field
  body: any;
}

/** What every CLI request passes to openapi-fetch: the per-request timeout, and no redirects followed. */
export type CliRequestInit = {
  signal: AbortSignal;
  redirect: 'manual';
};

/** The typed client (`allowance/client`) of one server as the CLI uses it. */
export interface CliApi {
  readonly server: string;
  /** The typed openapi-fetch client; each request carries a fresh client-signed HS256 token. */
  readonly api: Client<paths>;
  /**
   * Runs one typed request (`what` names it in messages) with the timeout. Returns 2xx answers; a 4xx is a
   * CliError with exit status 1, a 5xx, timeout or connection error exit status 3.
   */
  send(
    what: string,
    call: (init: CliRequestInit) => Promise<{ data?: unknown; error?: unknown; response: Response }>,
  ): Promise<CliAnswer>;
}

/** Connection settings of {@link createCliApi}. */
export interface CliApiOptions {
  server: string;
  keyId: string;
  secret: string;
  /** Per request, in milliseconds. */
  timeoutMs: number;
}

/** The typed client of `server` with a credential; a server that is not an http(s) URL is a usage error. */
export function createCliApi(options: CliApiOptions): CliApi {
  let url: URL;
  try {
    url = new URL(options.server);
  } catch {
    throw new CliError(EXIT.usage, `--server: not a URL: ${options.server}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(EXIT.usage, `--server: must be an http or https URL: ${options.server}`);
  }
  const server = url.href.replace(/\/+$/, '');
  const { api } = createAllowanceClient({
    baseUrl: server,
    credential: { keyId: options.keyId, secret: options.secret },
  });
  return {
    server,
    api,
    async send(what, call) {
      let result: { data?: unknown; error?: unknown; response: Response };
      try {
        result = await call({ signal: AbortSignal.timeout(options.timeoutMs), redirect: 'manual' });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const why =
          (err as Error).name === 'TimeoutError'
            ? `no answer within ${options.timeoutMs} ms`
            : (cause?.code ?? cause?.message ?? (err as Error).message);
        throw new CliError(EXIT.server, `${what} ${server}: ${why}`);
      }
      const status = result.response.status;
      if (status >= 200 && status < 300) return { status, body: result.data ?? null };
      const body = typeof result.error === 'string' ? { raw: result.error.slice(0, 500) } : (result.error ?? null);
      throw new CliError(
        status >= 500 ? EXIT.server : EXIT.failure,
        `${what}: ${status} ${describeApiError(status, body)}`,
        body,
      );
    },
  };
}
