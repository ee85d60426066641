import { BurstyRateLimiter, RateLimiterMongo, RateLimiterRes } from 'rate-limiter-flexible';
import { type CredentialLimiter, rateLimited } from './rate-limit.js';

/** The collection of the shared per-credential counters (rate-limiter-flexible's documents, TTL-indexed). */
export const RATE_LIMIT_COLLECTION = 'rate_limits';

/** Options of {@link mongoCredentialLimiter}. */
export interface MongoCredentialLimiterOptions {
  /** A connected MongoClient (the adapter's), and the database of the other collections. */
  client: unknown;
  dbName: string;
  perSecond: number;
  burst: number;
  /**
   * Longest wait for the shared counter, in ms; past it (or on a store error) the request is counted by
   * `fallback` instead, so the limit never hangs a request nor lets it through unlimited. Default 250.
   */
  timeoutMs?: number;
  /** The limit of this process that stands in while the store does not answer. */
  fallback: CredentialLimiter;
}

/**
 * The per-credential limit shared by every server on one MongoDB (rate-limiter-flexible's RateLimiterMongo:
 * one `findOneAndUpdate` with `$inc` per request on a document per credential and window). `perSecond` points
 * per one-second window, plus `burst - perSecond` points over the time the bucket takes to refill (its
 * BurstyRateLimiter), the fixed-window counterpart of the in-process token bucket. Windows expire by the
 * `expire` date the first server of the window wrote, compared with each server's clock: servers whose clocks
 * differ by more than a second count a window a little longer or shorter; it is a rate limit, not money.
 */
export function mongoCredentialLimiter(options: MongoCredentialLimiterOptions): CredentialLimiter {
  const common = { storeClient: options.client, dbName: options.dbName, tableName: RATE_LIMIT_COLLECTION };
  const main = new RateLimiterMongo({ ...common, keyPrefix: 'cred', points: options.perSecond, duration: 1 });
  const extra = options.burst - options.perSecond;
  const limiter =
    extra > 0
      ? new BurstyRateLimiter(
          main,
          new RateLimiterMongo({
            ...common,
            keyPrefix: 'cred_burst',
            points: extra,
            duration: Math.max(1, Math.ceil(options.burst / options.perSecond)),
          }),
        )
      : main;
  const timeoutMs = options.timeoutMs ?? 250;
  return {
    async consume(keyId) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        const outcome = await Promise.race([limiter.consume(keyId), timedOut]);
        if (outcome !== 'timeout') return;
      } catch (err) {
        if (err instanceof RateLimiterRes) throw rateLimited('credential', err.msBeforeNext / 1000);
        // A store error: counted here instead.
      } finally {
        clearTimeout(timer);
      }
      await options.fallback.consume(keyId);
    },
  };
}
