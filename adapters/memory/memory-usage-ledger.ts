import type {
  AdjustResult,
  ReleaseResult,
  Reservation,
  ReserveResult,
  UsageAdjustment,
  UsageLedger,
  UsageReadHints,
} from '../../src/storage/index.js';
import { emptyWindow } from '../../src/storage/index.js';
import type { UsageSnapshot, WindowUsage } from '../../src/types.js';

const WINDOW_NAMES = ['daily', 'weekly', 'monthly', 'total'] as const;
type WindowName = (typeof WINDOW_NAMES)[number];

interface Hold {
  amount: number;
  /** Transactions it counted (see Reservation.count). */
  count: number;
  periods: Record<WindowName, string>;
}

interface UsageState {
  windows: Record<WindowName, WindowUsage>;
  holds: Map<string, Hold>;
  /** Reservation ids that were held once and are now settled or released. */
  ended: Set<string>;
  /** Adjustment ids already applied (see `adjustUsage`). */
  adjusted: Set<string>;
  /** The periods of the last hold: the holds of one day share one object (never changed once made). */
  holdPeriods: Readonly<Record<WindowName, string>> | null;
}

/** `state`'s periods object of its last hold when it names `windows`' periods, else a new one. */
function holdPeriodsOf(state: UsageState, windows: Record<WindowName, WindowUsage>): Record<WindowName, string> {
  const last = state.holdPeriods;
  if (
    last !== null &&
    last.daily === windows.daily.period &&
    last.weekly === windows.weekly.period &&
    last.monthly === windows.monthly.period &&
    last.total === windows.total.period
  )
    return last;
  const periods = Object.freeze({
    daily: windows.daily.period,
    weekly: windows.weekly.period,
    monthly: windows.monthly.period,
    total: windows.total.period,
  });
  state.holdPeriods = periods;
  return periods;
}

/** What a window holds for `period`: its usage when it counts that period, else an empty window. */
function windowAt(cur: WindowUsage | undefined, period: string): WindowUsage {
  // A literal, not a spread: it is frozen with the record it goes into, and a frozen spread object takes a
  // hidden class of its own (see memory-authorization-storage.ts).
  return cur && cur.period === period
    ? { period: cur.period, spent: cur.spent, count: cur.count }
    : emptyWindow(period);
}

/** {@link UsageLedger} in memory: each reservation or release is one synchronous step. */
export class MemoryUsageLedger implements UsageLedger {
  /**
   * Org id → authority id → state: looked up by the ids as given, with no key string made (and hashed)
   * per call.
   */
  private readonly usage = new Map<string, Map<string, UsageState>>();

  private usageState(orgId: string, authorityId: string, create: boolean): UsageState | undefined {
    let ofOrg = this.usage.get(orgId);
    let state = ofOrg?.get(authorityId);
    if (!state && create) {
      state = {
        windows: { daily: emptyWindow(''), weekly: emptyWindow(''), monthly: emptyWindow(''), total: emptyWindow('') },
        holds: new Map(),
        ended: new Set(),
        adjusted: new Set(),
        holdPeriods: null,
      };
      if (!ofOrg) {
        ofOrg = new Map();
        this.usage.set(orgId, ofOrg);
      }
      ofOrg.set(authorityId, state);
    }
    return state;
  }

  async getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
    hints?: UsageReadHints,
  ): Promise<UsageSnapshot> {
    const state = this.usageState(orgId, authorityId, false);
    const id = hints?.reservationId;
    if (hints && id !== undefined) hints.applied = state !== undefined && (state.holds.has(id) || state.ended.has(id));
    const windows = state?.windows;
    return {
      daily: windowAt(windows?.daily, periods.daily),
      weekly: windowAt(windows?.weekly, periods.weekly),
      monthly: windowAt(windows?.monthly, periods.monthly),
      total: windowAt(windows?.total, periods.total),
    };
  }

  async reserveUsage(orgId: string, authorityId: string, reservation: Reservation): Promise<ReserveResult> {
    const state = this.usageState(orgId, authorityId, true) as UsageState;
    const id = reservation.reservation_id;
    if (state.holds.has(id) || state.ended.has(id)) return { status: 'already_applied' };
    const next = {} as Record<WindowName, WindowUsage>;
    for (const w of WINDOW_NAMES) {
      const want = reservation.windows[w];
      const cur = state.windows[w];
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
    state.windows = next;
    state.holds.set(id, {
      amount: reservation.amount,
      count: reservation.count ?? 1,
      periods: holdPeriodsOf(state, next),
    });
    return { status: 'reserved' };
  }

  async releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    const state = this.usageState(orgId, authorityId, false);
    const hold = state?.holds.get(reservationId);
    if (!state || !hold) {
      // Never held (or already ended): a full release still ends the id, so a late reserve of it
      // (an attempt that lost its claim) is `already_applied` and holds nothing.
      if (keep === undefined) (this.usageState(orgId, authorityId, true) as UsageState).ended.add(reservationId);
      return { status: 'not_held' };
    }
    const giveBack = keep === undefined ? hold.amount : Math.max(0, hold.amount - keep);
    const countBack = keep === undefined ? hold.count : 0;
    for (const w of WINDOW_NAMES) {
      const cur = state.windows[w];
      if (cur.period !== hold.periods[w]) continue;
      state.windows[w] = {
        period: cur.period,
        spent: Math.max(0, cur.spent - giveBack),
        count: Math.max(0, cur.count - countBack),
      };
    }
    state.holds.delete(reservationId);
    state.ended.add(reservationId);
    return { status: 'released', amount: giveBack };
  }

  /** Test hook: the raw usage state, as the conformance suite reads the backing store directly. */
  inspectUsage(orgId: string, authorityId: string): { windows: Record<WindowName, WindowUsage>; holds: string[] } {
    const state = this.usageState(orgId, authorityId, false);
    return {
      windows: structuredClone(
        state?.windows ?? {
          daily: emptyWindow(''),
          weekly: emptyWindow(''),
          monthly: emptyWindow(''),
          total: emptyWindow(''),
        },
      ),
      holds: state ? [...state.holds.keys()] : [],
    };
  }

  async adjustUsage(orgId: string, authorityId: string, adjustment: UsageAdjustment): Promise<AdjustResult> {
    const state = this.usageState(orgId, authorityId, true) as UsageState;
    if (state.adjusted.has(adjustment.adjustment_id)) return { status: 'already_applied' };
    for (const w of WINDOW_NAMES) {
      const cur = state.windows[w];
      if (cur.period !== adjustment.periods[w]) continue;
      state.windows[w] = { ...cur, spent: Math.max(0, cur.spent + adjustment.amount) };
    }
    state.adjusted.add(adjustment.adjustment_id);
    return { status: 'adjusted' };
  }
}
