import type { Context } from 'koa';
import type { CredentialRole } from '../storage/index.js';

/** The authenticated caller of a request. */
export interface Principal {
  keyId: string;
  role: CredentialRole;
  /** Org id (enterprise) or processor id (processor); null for the operator. */
  ownerId: string | null;
  /**
   * How the caller proved itself: a token it signed with its secret, a session token from the exchange, or
   * its key id and secret sent as they are (`x-api-key`, for credentials created with `api_key_auth`).
   */
  via: 'client_token' | 'session_token' | 'api_key';
  /**
   * False for a test-mode credential. Its `ownerId` is then the test twin of its org or processor
   * (`orgtest_…`, `prctest_…`), so every route keyed by the owner sees test data only.
   */
  livemode: boolean;
}

/** State the middleware chain sets on `ctx.state`. */
export interface AppState {
  requestId: string;
  /** When the request was received, in `performance.now()` milliseconds: deadlines count from here. */
  receivedAt: number;
  principal?: Principal;
  /** The matched route pattern, for logs and metrics. */
  route?: string;
  body?: unknown;
  /** A status the handler chose instead of the route's success status (e.g. 200 for an upload already there). */
  status?: number;
}

/** A Koa context of this app. */
export type AppContext = Context & { state: AppState };
