/** How webhooks are delivered; read from the environment by loadConfig (ALLOWANCE_WEBHOOK_*). */
export interface WebhookConfig {
  /**
   * ALLOWANCE_WEBHOOK_ALLOW_PRIVATE: deliver to loopback, private, link-local and other non-public addresses.
   * Off by default (a webhook URL must not reach into the server's own network); for tests and on-premise
   * receivers.
   */
  allowPrivateTargets: boolean;
  /** ALLOWANCE_WEBHOOK_ALLOW_HTTP: accept `http:` URLs. Off by default: https only. */
  allowHttp: boolean;
  /** ALLOWANCE_WEBHOOK_MAX_ATTEMPTS: attempts of one delivery before it is `failed`. */
  maxAttempts: number;
  /** ALLOWANCE_WEBHOOK_DISABLE_AFTER: failed deliveries in a row (no success between) that disable an endpoint. */
  disableAfterFailures: number;
  /** ALLOWANCE_WEBHOOK_BACKOFF_BASE_MS: the delay before the 2nd attempt is drawn from [0, base]; it doubles. */
  backoffBaseMs: number;
  /** ALLOWANCE_WEBHOOK_BACKOFF_CAP_MS: the largest delay between two attempts. */
  backoffCapMs: number;
  /** ALLOWANCE_WEBHOOK_TIMEOUT_MS: one attempt (DNS, connect, TLS, response headers) before it counts as failed. */
  timeoutMs: number;
  /** How often the dispatcher looks for new events and due retries without being woken. */
  pollIntervalMs: number;
  /** Deliveries attempted at once by one dispatcher. */
  concurrency: number;
}

/** The defaults: https to public addresses only, 16 attempts over about half a day, disable after 20 failures. */
export const DEFAULT_WEBHOOK_CONFIG: Readonly<WebhookConfig> = Object.freeze({
  allowPrivateTargets: false,
  allowHttp: false,
  maxAttempts: 16,
  disableAfterFailures: 20,
  backoffBaseMs: 30_000,
  backoffCapMs: 4 * 3_600_000,
  timeoutMs: 10_000,
  pollIntervalMs: 1_000,
  concurrency: 8,
});
