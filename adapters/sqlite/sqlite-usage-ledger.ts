import type {
  AdjustResult,
  ReleaseResult,
  Reservation,
  ReserveResult,
  UsageAdjustment,
  UsageLedger,
  UsageReadHints,
} from '../../src/storage/index.js';
import { emptyWindow, WINDOWS } from '../../src/storage/index.js';
import type { UsageSnapshot, WindowUsage } from '../../src/types.js';
import { SqliteStore } from './sqlite-store.js';

type WindowName = (typeof WINDOWS)[number];
type Windows = Record<WindowName, WindowUsage>;

function emptyWindows(): Windows {
  return { daily: emptyWindow(''), weekly: emptyWindow(''), monthly: emptyWindow(''), total: emptyWindow('') };
}

/**
 * {@link UsageLedger} on SQLite: one `usage` row per authority with its windows; a reservation or release
 * reads, checks and writes in one `BEGIN IMMEDIATE` transaction.
 */
export class SqliteUsageLedger extends SqliteStore implements UsageLedger {
  // --- usage

  private windowsSync(orgId: string, authorityId: string): Windows | null {
    const row = this.sql('SELECT windows FROM usage WHERE org_id = ? AND authority_id = ?').get(orgId, authorityId) as
      | { windows: string }
      | undefined;
    return row ? (JSON.parse(row.windows) as Windows) : null;
  }

  private writeWindows(orgId: string, authorityId: string, windows: Windows): void {
    this.sql(
      'INSERT INTO usage (org_id, authority_id, windows) VALUES (?, ?, ?) ON CONFLICT (org_id, authority_id) DO UPDATE SET windows = excluded.windows',
    ).run(orgId, authorityId, JSON.stringify(windows));
  }

  async getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
    hints?: UsageReadHints,
  ): Promise<UsageSnapshot> {
    return this.read(() => {
      const windows = this.windowsSync(orgId, authorityId);
      const id = hints?.reservationId;
      if (hints && id !== undefined) {
        hints.applied =
          this.sql('SELECT 1 FROM usage_holds WHERE org_id = ? AND authority_id = ? AND reservation_id = ?').get(
            orgId,
            authorityId,
            id,
          ) !== undefined;
      }
      const one = (w: WindowName): WindowUsage => {
        const cur = windows?.[w];
        return cur && cur.period === periods[w] ? { ...cur } : emptyWindow(periods[w]);
      };
      return { daily: one('daily'), weekly: one('weekly'), monthly: one('monthly'), total: one('total') };
    });
  }

  async reserveUsage(orgId: string, authorityId: string, reservation: Reservation): Promise<ReserveResult> {
    return this.tx((): ReserveResult => {
      const id = reservation.reservation_id;
      const seen = this.sql(
        'SELECT 1 FROM usage_holds WHERE org_id = ? AND authority_id = ? AND reservation_id = ?',
      ).get(orgId, authorityId, id);
      if (seen) return { status: 'already_applied' };
      const windows = this.windowsSync(orgId, authorityId) ?? emptyWindows();
      const next = {} as Windows;
      for (const w of WINDOWS) {
        const want = reservation.windows[w];
        const cur = windows[w];
        // A stale server clock may ask for an older period: count against the newer one instead.
        const base = cur.period >= want.period ? cur : emptyWindow(want.period);
        const spent = base.spent + reservation.amount;
        const count = base.count + (reservation.count ?? 1);
        if (want.amount_limit !== null && spent > want.amount_limit) {
          return { status: 'limit_exceeded', window: w, kind: 'amount' };
        }
        if (want.count_limit !== null && count > want.count_limit) {
          return { status: 'limit_exceeded', window: w, kind: 'count' };
        }
        next[w] = { period: base.period, spent, count };
      }
      this.writeWindows(orgId, authorityId, next);
      const periods = {
        daily: next.daily.period,
        weekly: next.weekly.period,
        monthly: next.monthly.period,
        total: next.total.period,
      };
      this.sql(
        `INSERT INTO usage_holds (org_id, authority_id, reservation_id, held, amount, periods, transactions)
           VALUES (?, ?, ?, 1, ?, ?, ?)`,
      ).run(orgId, authorityId, id, reservation.amount, JSON.stringify(periods), reservation.count ?? 1);
      return { status: 'reserved' };
    });
  }

  async releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    return this.tx((): ReleaseResult => {
      const hold = this.sql(
        `SELECT held, amount, periods, transactions FROM usage_holds
           WHERE org_id = ? AND authority_id = ? AND reservation_id = ?`,
      ).get(orgId, authorityId, reservationId) as
        | { held: number; amount: number; periods: string | null; transactions: number }
        | undefined;
      if (hold?.held !== 1) {
        // Never held (or already ended): a full release still ends the id, so a late reserve of it
        // (an attempt that lost its claim) is `already_applied` and holds nothing.
        if (!hold && keep === undefined) {
          this.sql(
            'INSERT INTO usage_holds (org_id, authority_id, reservation_id, held, amount, periods) VALUES (?, ?, ?, 0, 0, NULL)',
          ).run(orgId, authorityId, reservationId);
        }
        return { status: 'not_held' };
      }
      const periods = JSON.parse(hold.periods ?? '{}') as Record<WindowName, string>;
      const giveBack = keep === undefined ? hold.amount : Math.max(0, hold.amount - keep);
      const countBack = keep === undefined ? hold.transactions : 0;
      const windows = this.windowsSync(orgId, authorityId) ?? emptyWindows();
      for (const w of WINDOWS) {
        const cur = windows[w];
        if (cur.period !== periods[w]) continue;
        windows[w] = {
          period: cur.period,
          spent: Math.max(0, cur.spent - giveBack),
          count: Math.max(0, cur.count - countBack),
        };
      }
      this.writeWindows(orgId, authorityId, windows);
      this.sql(
        'UPDATE usage_holds SET held = 0, periods = NULL WHERE org_id = ? AND authority_id = ? AND reservation_id = ?',
      ).run(orgId, authorityId, reservationId);
      return { status: 'released', amount: giveBack };
    });
  }

  /**
   * The adjustment id is recorded as an ended row of `usage_holds` under a key no reservation id can take
   * (NUL-prefixed), in the transaction that changes the windows.
   */
  async adjustUsage(orgId: string, authorityId: string, adjustment: UsageAdjustment): Promise<AdjustResult> {
    const marker = `\u0000adjustment\u0000${adjustment.adjustment_id}`;
    return this.tx((): AdjustResult => {
      const seen = this.sql(
        'SELECT 1 FROM usage_holds WHERE org_id = ? AND authority_id = ? AND reservation_id = ?',
      ).get(orgId, authorityId, marker);
      if (seen) return { status: 'already_applied' };
      this.sql(
        'INSERT INTO usage_holds (org_id, authority_id, reservation_id, held, amount, periods) VALUES (?, ?, ?, 0, ?, NULL)',
      ).run(orgId, authorityId, marker, adjustment.amount);
      const windows = this.windowsSync(orgId, authorityId);
      if (!windows) return { status: 'adjusted' };
      for (const w of WINDOWS) {
        const cur = windows[w];
        if (cur.period !== adjustment.periods[w]) continue;
        windows[w] = { ...cur, spent: Math.max(0, cur.spent + adjustment.amount) };
      }
      this.writeWindows(orgId, authorityId, windows);
      return { status: 'adjusted' };
    });
  }
}
