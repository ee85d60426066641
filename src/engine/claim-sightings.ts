import type { AuthorizationRecord } from '../types.js';

/** How many pending claims one engine remembers having seen; the oldest sighting is forgotten first. */
const MAX_SIGHTINGS = 10_000;

/**
 * When this process first saw each pending claim in its current state, on its own monotonic clock.
 * A lease is judged only here: a claim may be taken over once this process has itself seen the same
 * (attempt, version) unchanged for the whole lease, however far the holder's wall clock is from ours.
 * Forgetting a sighting (eviction) only makes the next take-over wait longer.
 */
export class ClaimSightings {
  private readonly seen = new Map<string, { attempt: number; version: number; firstMs: number }>();

  /** Milliseconds this process has seen `rec` unchanged; 0 at its first sighting. */
  unchangedFor(rec: AuthorizationRecord, nowMs: number): number {
    const key = `${rec.processor_id}\u0000${rec.authorization_id}`;
    const prev = this.seen.get(key);
    if (prev && prev.attempt === rec.attempt && prev.version === rec.version) return nowMs - prev.firstMs;
    this.seen.delete(key);
    if (this.seen.size >= MAX_SIGHTINGS) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    this.seen.set(key, { attempt: rec.attempt, version: rec.version, firstMs: nowMs });
    return 0;
  }

  forget(rec: AuthorizationRecord): void {
    this.seen.delete(`${rec.processor_id}\u0000${rec.authorization_id}`);
  }
}
