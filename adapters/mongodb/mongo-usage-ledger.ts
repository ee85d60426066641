import type {
  AdjustResult,
  ReleaseResult,
  Reservation,
  ReserveHints,
  ReserveResult,
  UsageAdjustment,
  UsageLedger,
  UsageReadHints,
} from '../../src/storage/index.js';
import type { UsageSnapshot } from '../../src/types.js';
import type { MongoBackend } from './mongo-backend.js';
import { UsageLedger as LedgerWrites } from './usage-ledger.js';

/**
 * {@link UsageLedger} on MongoDB: `usage`, `reservation_ends` and `usage_adjustments`, conditional writes (see
 * usage-ledger.ts).
 */
export class MongoUsageLedger implements UsageLedger {
  private readonly ledger: LedgerWrites;

  constructor(private readonly b: MongoBackend) {
    this.ledger = new LedgerWrites(b.c.usage, b.c.reservationEnds, b.maxAttempts, b.c.usageAdjustments);
  }

  getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
    hints?: UsageReadHints,
  ): Promise<UsageSnapshot> {
    return this.b.run(() => this.ledger.snapshot(orgId, authorityId, periods, hints));
  }

  reserveUsage(
    orgId: string,
    authorityId: string,
    reservation: Reservation,
    hints?: ReserveHints,
  ): Promise<ReserveResult> {
    return this.b.run(() => this.ledger.reserve(orgId, authorityId, reservation, hints));
  }

  releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    return this.b.run(() => this.ledger.release(orgId, authorityId, reservationId, keep));
  }

  adjustUsage(orgId: string, authorityId: string, adjustment: UsageAdjustment): Promise<AdjustResult> {
    return this.b.run(() => this.ledger.adjust(orgId, authorityId, adjustment));
  }
}
