import { AppError } from '../../errors/index.js';
import type { Clock } from '../../util/clock.js';

/** What a limit is counted per, reported in `details.limit` of a `rate_limited` error. */
export type LimitScope = 'credential' | 'client_address';

/** The `rate_limited` error (429, `Retry-After: <retry_after>`), naming the limit that was hit. */
export function rateLimited(scope: LimitScope, retryAfterSeconds: number): AppError {
  const what = scope === 'credential' ? 'this credential' : 'this client address';
  return new AppError('rate_limited', `too many requests for ${what}`, {
    details: { retry_after: Math.max(1, Math.ceil(retryAfterSeconds)), limit: scope },
  });
}

/** Per-key token buckets in this process: `perSecond` sustained, `burst` at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
    private readonly scope: LimitScope = 'credential',
  ) {}

  /**
   * Takes `cost` tokens for `key` (all or none), or throws `rate_limited` with the seconds to wait in
   * `details.retry_after`. A cost above the burst can never pass.
   */
  take(key: string, cost = 1): void {
    const b = this.bucket(key);
    if (b.tokens < cost) throw rateLimited(this.scope, (cost - b.tokens) / this.perSecond);
    b.tokens -= cost;
  }

  /** Throws `rate_limited` when `key` has less than one token, and takes none. */
  check(key: string): void {
    const b = this.buckets.has(key) ? this.bucket(key) : null;
    if (b && b.tokens < 1) throw rateLimited(this.scope, (1 - b.tokens) / this.perSecond);
  }

  /** Takes one token of `key` if there is one; never throws (counts something that already happened). */
  drain(key: string): void {
    const b = this.bucket(key);
    b.tokens = Math.max(0, b.tokens - 1);
  }

  /** The bucket of `key`, refilled for the time since it was last used. */
  private bucket(key: string): { tokens: number; at: number } {
    const now = this.clock.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.prune(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.perSecond);
      b.at = now;
    }
    return b;
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
    }
  }
}

/**
 * The per-credential limit. In this process by default; on a shared store (MongoDB) a counter every server
 * updates, so the limit holds across servers. `consume` throws `rate_limited` (scope `credential`).
 */
export interface CredentialLimiter {
  consume(keyId: string): Promise<void> | void;
}

/** A {@link CredentialLimiter} on this process's token buckets. */
export function localCredentialLimiter(limiter: RateLimiter): CredentialLimiter {
  return { consume: (keyId) => limiter.take(keyId) };
}
