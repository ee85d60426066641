import * as assert from 'node:assert/strict';
import { type Reservation, type StorageAdapter, WINDOWS } from '../../../src/storage/index.js';
import { countOf, inParallel } from '../assertions.js';
import { makeReservation, orderedId, type Periods, periodsOf, type WindowLimits } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

async function budget({ adapter, inspect }: ConformanceTarget) {
  const { org, authority } = await seedTenant(adapter);
  const usage = (periods: Periods = periodsOf()) => adapter.getUsage(org.id, authority.id, periods);
  const stored = async () => (inspect ? inspect.usage(org.id, authority.id) : null);
  return { adapter, orgId: org.id, authorityId: authority.id, usage, stored };
}

function spentOf(u: Awaited<ReturnType<StorageAdapter['getUsage']>>) {
  return WINDOWS.map((w) => [u[w].spent, u[w].count]);
}

/** Atomic, replay-safe holds on usage windows. */
export const reservationsGroup: ConformanceGroup = (g) => {
  g.it('a never-used authority has zero usage in the asked periods', async (t) => {
    const b = await budget(t);
    const periods = periodsOf(9);
    const u = await b.usage(periods);
    for (const w of WINDOWS) assert.deepStrictEqual(u[w], { period: periods[w], spent: 0, count: 0 });
  });

  g.it('a usage read told a reservation id reports whether it was applied, or leaves it unsaid', async (t) => {
    const b = await budget(t);
    const seen = async (id: string) => {
      const hints: { reservationId?: string; applied?: boolean } = { reservationId: id };
      await b.adapter.getUsage(b.orgId, b.authorityId, periodsOf(), hints);
      return hints.applied;
    };
    const held = makeReservation(100);
    const never = makeReservation(100);
    assert.notStrictEqual(await seen(held.reservation_id), true, 'nothing applied yet');
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, held), { status: 'reserved' });
    const released = makeReservation(100);
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, released), { status: 'reserved' });
    await b.adapter.releaseUsage(b.orgId, b.authorityId, released.reservation_id);
    assert.notStrictEqual(await seen(held.reservation_id), false, 'a held id is applied');
    assert.notStrictEqual(await seen(released.reservation_id), false, 'a released id is applied');
    assert.notStrictEqual(await seen(never.reservation_id), true, 'an id never reserved is not');
  });

  g.it('reserve holds the amount and one transaction in every window', async (t) => {
    const b = await budget(t);
    const r = makeReservation(1250, { daily: { amount: 5000 } });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, r), { status: 'reserved' });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(750)), {
      status: 'reserved',
    });
    const u = await b.usage();
    for (const w of WINDOWS) assert.deepStrictEqual(u[w], { period: periodsOf()[w], spent: 2000, count: 2 });
    const stored = await b.stored();
    if (stored) {
      assert.strictEqual(stored.windows.daily.spent, 2000);
      assert.strictEqual(stored.windows.total.count, 2);
      assert.ok(stored.holds.includes(r.reservation_id));
      assert.strictEqual(stored.holds.length, 2);
    }
  });

  g.it('a forced reservation (no limits) is recorded past a full window, once, and released like any', async (t) => {
    const b = await budget(t);
    const limits = { daily: { amount: 1000, count: 1 } };
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1000, limits)), {
      status: 'reserved',
    });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1, limits)), {
      status: 'limit_exceeded',
      window: 'daily',
      kind: 'amount',
    });
    // What a stand-in approval recorded when the store was back: the window is already full.
    const forced = makeReservation(700);
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, forced), { status: 'reserved' });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, { ...forced }), {
      status: 'already_applied',
    });
    for (const [spent, count] of spentOf(await b.usage())) {
      assert.strictEqual(spent, 1700);
      assert.strictEqual(count, 2);
    }
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, forced.reservation_id), {
      status: 'released',
      amount: 700,
    });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, { ...forced }), {
      status: 'already_applied',
    });
    assert.strictEqual((await b.usage()).daily.spent, 1000);
  });

  g.it('release gives back exactly what was reserved', async (t) => {
    const b = await budget(t);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(300));
    const r = makeReservation(1234);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id), {
      status: 'released',
      amount: 1234,
    });
    for (const [spent, count] of spentOf(await b.usage())) {
      assert.strictEqual(spent, 300);
      assert.strictEqual(count, 1);
    }
    const stored = await b.stored();
    if (stored) assert.ok(!stored.holds.includes(r.reservation_id));
  });

  g.it('settle with keep leaves the kept amount and the transaction spent', async (t) => {
    const b = await budget(t);
    const r = makeReservation(1000);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id, 600), {
      status: 'released',
      amount: 400,
    });
    for (const [spent, count] of spentOf(await b.usage())) {
      assert.strictEqual(spent, 600);
      assert.strictEqual(count, 1);
    }
    const full = makeReservation(500);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, full);
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, full.reservation_id, 500), {
      status: 'released',
      amount: 0,
    });
    const u = await b.usage();
    assert.deepStrictEqual([u.daily.spent, u.daily.count], [1100, 2]);
  });

  g.it('amount limits: exactly at the limit passes, one over names the window', async (t) => {
    const b = await budget(t);
    const limits = {
      daily: { amount: 1000 },
      weekly: { amount: 1500 },
      monthly: { amount: 1800 },
      total: { amount: 1900 },
    };
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1000, limits)), {
      status: 'reserved',
    });
    const over = (amount: number, l: WindowLimits) =>
      b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(amount, l));
    assert.deepStrictEqual(await over(1, limits), { status: 'limit_exceeded', window: 'daily', kind: 'amount' });
    const noDaily = { ...limits, daily: { amount: 100_000 } };
    assert.deepStrictEqual(await over(501, noDaily), { status: 'limit_exceeded', window: 'weekly', kind: 'amount' });
    assert.deepStrictEqual(await over(500, { ...noDaily, monthly: { amount: 1499 } }), {
      status: 'limit_exceeded',
      window: 'monthly',
      kind: 'amount',
    });
    assert.deepStrictEqual(await over(901, { daily: { amount: 5000 }, total: { amount: 1900 } }), {
      status: 'limit_exceeded',
      window: 'total',
      kind: 'amount',
    });
    const u = await b.usage();
    assert.deepStrictEqual([u.daily.spent, u.daily.count, u.total.spent], [1000, 1, 1000], 'a refusal changes nothing');
    const stored = await b.stored();
    if (stored) assert.strictEqual(stored.holds.length, 1);
  });

  g.it('count limits: the n+1th transaction in a window is refused', async (t) => {
    const b = await budget(t);
    const limits = { weekly: { count: 2 } };
    for (let i = 0; i < 2; i++) {
      assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1, limits)), {
        status: 'reserved',
      });
    }
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1, limits)), {
      status: 'limit_exceeded',
      window: 'weekly',
      kind: 'count',
    });
    assert.deepStrictEqual(
      await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1, { total: { count: 3 } })),
      {
        status: 'reserved',
      },
    );
    assert.strictEqual((await b.usage()).total.count, 3);
  });

  g.it('null limits are no limits', async (t) => {
    const b = await budget(t);
    const big = 2 ** 40;
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(big)), {
      status: 'reserved',
    });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(big)), {
      status: 'reserved',
    });
    assert.strictEqual((await b.usage()).total.spent, 2 * big);
  });

  g.it('a newer period starts from zero; rolled windows are left alone on release', async (t) => {
    const b = await budget(t);
    const limits = { daily: { amount: 1000 }, monthly: { amount: 1500 } };
    const monday = makeReservation(900, limits, periodsOf(5));
    await b.adapter.reserveUsage(b.orgId, b.authorityId, monday);
    const tuesday = makeReservation(900, limits, periodsOf(6));
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, tuesday), {
      status: 'limit_exceeded',
      window: 'monthly',
      kind: 'amount',
    });
    const smaller = makeReservation(600, limits, periodsOf(6));
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, smaller), { status: 'reserved' });
    const u = await b.usage(periodsOf(6));
    assert.deepStrictEqual(u.daily, { period: periodsOf(6).daily, spent: 600, count: 1 });
    assert.deepStrictEqual(u.monthly, { period: '2026-01', spent: 1500, count: 2 });
    assert.deepStrictEqual((await b.usage(periodsOf(5))).daily, { period: periodsOf(5).daily, spent: 0, count: 0 });
    // Monday's hold ends after the day rolled: only windows still in Monday's periods give back.
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, monday.reservation_id), {
      status: 'released',
      amount: 900,
    });
    const after = await b.usage(periodsOf(6));
    assert.deepStrictEqual(after.daily, { period: periodsOf(6).daily, spent: 600, count: 1 });
    assert.deepStrictEqual(after.monthly, { period: '2026-01', spent: 600, count: 1 });
    const stored = await b.stored();
    if (stored) assert.strictEqual(stored.windows.daily.period, periodsOf(6).daily);
  });

  g.it('an older requested period counts against the newer stored one', async (t) => {
    const b = await budget(t);
    const limits = { daily: { amount: 1000 } };
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(800, limits, periodsOf(6)));
    assert.deepStrictEqual(
      await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(300, limits, periodsOf(5))),
      {
        status: 'limit_exceeded',
        window: 'daily',
        kind: 'amount',
      },
    );
    const late = makeReservation(200, limits, periodsOf(5));
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, late), { status: 'reserved' });
    assert.deepStrictEqual((await b.usage(periodsOf(6))).daily, { period: periodsOf(6).daily, spent: 1000, count: 2 });
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, late.reservation_id), {
      status: 'released',
      amount: 200,
    });
    assert.deepStrictEqual((await b.usage(periodsOf(6))).daily, { period: periodsOf(6).daily, spent: 800, count: 1 });
  });

  g.it('a replayed reservation id changes nothing, held, released or settled', async (t) => {
    const b = await budget(t);
    const held = makeReservation(100);
    const released = makeReservation(200);
    const settled = makeReservation(400);
    for (const r of [held, released, settled]) await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
    await b.adapter.releaseUsage(b.orgId, b.authorityId, released.reservation_id);
    await b.adapter.releaseUsage(b.orgId, b.authorityId, settled.reservation_id, 400);
    const before = await b.usage();
    const storedBefore = await b.stored();
    for (const r of [held, released, settled]) {
      assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, r), { status: 'already_applied' });
      assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, { ...r, amount: 1 }), {
        status: 'already_applied',
      });
    }
    assert.deepStrictEqual(await b.usage(), before);
    assert.deepStrictEqual(await b.stored(), storedBefore);
    assert.deepStrictEqual([before.daily.spent, before.daily.count], [500, 2]);
  });

  g.it('releasing an unknown or ended reservation is not_held and changes nothing', async (t) => {
    const b = await budget(t);
    const r = makeReservation(100);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, 'rsv_unknown'), { status: 'not_held' });
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id, 50), {
      status: 'released',
      amount: 50,
    });
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id), {
      status: 'not_held',
    });
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, 'sa_unknown', r.reservation_id), {
      status: 'not_held',
    });
    assert.deepStrictEqual([(await b.usage()).daily.spent, (await b.usage()).daily.count], [50, 1]);
  });

  g.it('a full release of an id never reserved ends it: a late reserve is already_applied', async (t) => {
    const b = await budget(t);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(100));
    const late = makeReservation(700);
    const kept = makeReservation(300);
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, kept.reservation_id, 5), {
      status: 'not_held',
    });
    assert.deepStrictEqual(
      await b.adapter.reserveUsage(b.orgId, b.authorityId, kept),
      { status: 'reserved' },
      'keep ends nothing',
    );
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, late.reservation_id), {
      status: 'not_held',
    });
    assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, late), { status: 'already_applied' });
    assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, late.reservation_id), {
      status: 'not_held',
    });
    const u = await b.usage();
    assert.deepStrictEqual([u.daily.spent, u.daily.count, u.total.spent], [400, 2, 400]);
    const stored = await b.stored();
    if (stored) {
      assert.ok(!stored.holds.includes(late.reservation_id));
      assert.strictEqual(stored.holds.length, 2);
    }
    // On an authority that was never used too.
    const fresh = await budget(t);
    const first = makeReservation(50);
    assert.deepStrictEqual(await fresh.adapter.releaseUsage(fresh.orgId, fresh.authorityId, first.reservation_id), {
      status: 'not_held',
    });
    assert.deepStrictEqual(await fresh.adapter.reserveUsage(fresh.orgId, fresh.authorityId, first), {
      status: 'already_applied',
    });
    assert.deepStrictEqual((await fresh.usage()).daily, { period: periodsOf().daily, spent: 0, count: 0 });
  });

  g.it('a reserve racing a full release of the same id: held then given back, or never applied', async (t) => {
    const b = await budget(t);
    const n = g.concurrency;
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(3));
    const ids = Array.from({ length: n }, () => makeReservation(10));
    const pairs = await inParallel(n, (i) => {
      const r = ids[i] as Reservation;
      return Promise.all([
        b.adapter.reserveUsage(b.orgId, b.authorityId, r),
        b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id),
      ]);
    });
    for (const [reserved, released] of pairs) {
      const outcome = `${reserved.status}/${released.status}`;
      assert.ok(
        (outcome === 'reserved/released' && released.status === 'released' && released.amount === 10) ||
          outcome === 'already_applied/not_held',
        outcome,
      );
    }
    const u = await b.usage();
    assert.deepStrictEqual([u.daily.spent, u.daily.count], [3, 1], 'only the unrelated hold stays');
    const stored = await b.stored();
    if (stored) assert.strictEqual(stored.holds.length, 1);
    for (const r of ids) {
      assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, r), { status: 'already_applied' });
    }
    assert.deepStrictEqual([(await b.usage()).daily.spent, (await b.usage()).daily.count], [3, 1]);
  });

  g.it('N concurrent reserves on one budget succeed exactly floor(limit/amount) times', async (t) => {
    const b = await budget(t);
    const n = g.concurrency;
    const amount = 7;
    const limit = amount * Math.floor(n / 3) + 3;
    const results = await inParallel(n, () =>
      b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(amount, { daily: { amount: limit } })),
    );
    const won = countOf(
      results.map((r) => r.status),
      'reserved',
    );
    assert.strictEqual(won, Math.floor(limit / amount));
    for (const r of results)
      if (r.status !== 'reserved')
        assert.deepStrictEqual(r, { status: 'limit_exceeded', window: 'daily', kind: 'amount' });
    const u = await b.usage();
    assert.deepStrictEqual([u.daily.spent, u.daily.count], [won * amount, won]);
    const stored = await b.stored();
    if (stored) {
      assert.strictEqual(stored.windows.daily.spent, won * amount);
      assert.strictEqual(stored.holds.length, won);
    }
  });

  g.it('N concurrent reserves under a count limit succeed exactly limit times', async (t) => {
    const b = await budget(t);
    const n = g.concurrency;
    const limit = Math.floor(n / 4) + 1;
    const results = await inParallel(n, () =>
      b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1, { monthly: { count: limit } })),
    );
    assert.strictEqual(
      countOf(
        results.map((r) => r.status),
        'reserved',
      ),
      limit,
    );
    assert.strictEqual((await b.usage()).monthly.count, limit);
  });

  g.it('N concurrent reserves of one reservation id apply it once', async (t) => {
    const b = await budget(t);
    const r = makeReservation(10);
    const results = await inParallel(g.concurrency, () => b.adapter.reserveUsage(b.orgId, b.authorityId, r));
    const statuses = results.map((x) => x.status);
    assert.strictEqual(countOf(statuses, 'reserved'), 1);
    assert.strictEqual(countOf(statuses, 'already_applied'), g.concurrency - 1);
    assert.deepStrictEqual([(await b.usage()).daily.spent, (await b.usage()).daily.count], [10, 1]);
  });

  g.it('concurrent releases of one hold give it back once', async (t) => {
    const b = await budget(t);
    const r = makeReservation(10);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(5));
    await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
    const results = await inParallel(Math.min(g.concurrency, 50), () =>
      b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id),
    );
    assert.strictEqual(
      countOf(
        results.map((x) => x.status),
        'released',
      ),
      1,
    );
    assert.deepStrictEqual([(await b.usage()).daily.spent, (await b.usage()).daily.count], [5, 1]);
  });

  g.it('reserves racing releases and replays keep the counters exact', async (t) => {
    const b = await budget(t);
    const n = g.concurrency;
    const limit = 50 * Math.floor(n / 2);
    const first = Array.from({ length: Math.floor(n / 4) }, () => makeReservation(50));
    for (const r of first) await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
    const results = await inParallel(n, async (i) => {
      if (i < first.length) {
        const r = first[i] as (typeof first)[number];
        await b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id);
        // A late replay of a released id must not take budget again.
        return `replay:${(await b.adapter.reserveUsage(b.orgId, b.authorityId, r)).status}`;
      }
      const res = await b.adapter.reserveUsage(
        b.orgId,
        b.authorityId,
        makeReservation(50, { daily: { amount: limit } }),
      );
      return res.status;
    });
    assert.strictEqual(countOf(results, 'replay:already_applied'), first.length);
    const won = countOf(results, 'reserved');
    const u = await b.usage();
    assert.strictEqual(u.daily.spent, won * 50);
    assert.strictEqual(u.daily.count, won);
    assert.ok(u.daily.spent <= limit);
    const stored = await b.stored();
    if (stored) assert.strictEqual(stored.holds.length, won);
  });

  g.it(
    'adjust moves spent of the windows still in its periods, once per id; counts and limits untouched',
    async (t) => {
      const b = await budget(t);
      const r = makeReservation(1000, { daily: { amount: 1000, count: 1 } });
      await b.adapter.reserveUsage(b.orgId, b.authorityId, r);
      await b.adapter.releaseUsage(b.orgId, b.authorityId, r.reservation_id, 1000);
      const refund = { adjustment_id: orderedId('adj'), amount: -300, periods: periodsOf() };
      assert.deepStrictEqual(await b.adapter.adjustUsage(b.orgId, b.authorityId, refund), { status: 'adjusted' });
      assert.deepStrictEqual(await b.adapter.adjustUsage(b.orgId, b.authorityId, { ...refund }), {
        status: 'already_applied',
      });
      for (const [spent, count] of spentOf(await b.usage())) assert.deepStrictEqual([spent, count], [700, 1]);
      // A capture settled after the release adds spend, past a full window too: it happened.
      const late = { adjustment_id: orderedId('adj'), amount: 450, periods: periodsOf() };
      assert.deepStrictEqual(await b.adapter.adjustUsage(b.orgId, b.authorityId, late), { status: 'adjusted' });
      for (const [spent, count] of spentOf(await b.usage())) assert.deepStrictEqual([spent, count], [1150, 1]);
      // An adjustment id never collides with a reservation id, nor ends one.
      assert.deepStrictEqual(
        await b.adapter.reserveUsage(
          b.orgId,
          b.authorityId,
          makeReservation(10, {}, periodsOf(), refund.adjustment_id),
        ),
        { status: 'reserved' },
      );
    },
  );

  g.it('adjust leaves windows that rolled on alone and never goes below zero', async (t) => {
    const b = await budget(t);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(500, {}, periodsOf(5)));
    // The next day (same week, month): the daily window now counts day 6.
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(200, {}, periodsOf(6)));
    const refund = { adjustment_id: orderedId('adj'), amount: -400, periods: periodsOf(5) };
    assert.deepStrictEqual(await b.adapter.adjustUsage(b.orgId, b.authorityId, refund), { status: 'adjusted' });
    const u = await b.usage(periodsOf(6));
    assert.deepStrictEqual([u.daily.spent, u.weekly.spent, u.monthly.spent, u.total.spent], [200, 300, 300, 300]);
    const tooMuch = { adjustment_id: orderedId('adj'), amount: -5000, periods: periodsOf(6) };
    assert.deepStrictEqual(await b.adapter.adjustUsage(b.orgId, b.authorityId, tooMuch), { status: 'adjusted' });
    const v = await b.usage(periodsOf(6));
    assert.deepStrictEqual([v.daily.spent, v.weekly.spent, v.monthly.spent, v.total.spent], [0, 0, 0, 0]);
    assert.strictEqual(v.daily.count, 1);
    // An authority with no usage at all: nothing to change, the id is still spent.
    const other = await seedTenant(b.adapter);
    const none = { adjustment_id: orderedId('adj'), amount: -10, periods: periodsOf() };
    assert.deepStrictEqual(await b.adapter.adjustUsage(other.org.id, other.authority.id, none), { status: 'adjusted' });
    assert.deepStrictEqual(await b.adapter.adjustUsage(other.org.id, other.authority.id, none), {
      status: 'already_applied',
    });
  });

  g.it('concurrent adjustments of one id apply once, beside reserves', async (t) => {
    const b = await budget(t);
    await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(5000));
    const n = g.concurrency;
    const adjustment = { adjustment_id: orderedId('adj'), amount: -700, periods: periodsOf() };
    const results = await inParallel(n, async (i) =>
      i % 2 === 0
        ? (await b.adapter.adjustUsage(b.orgId, b.authorityId, { ...adjustment })).status
        : (await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(10))).status,
    );
    assert.strictEqual(countOf(results, 'adjusted'), 1);
    assert.strictEqual(countOf(results, 'already_applied'), Math.ceil(n / 2) - 1);
    const reserved = countOf(results, 'reserved');
    const u = await b.usage();
    assert.strictEqual(u.daily.spent, 5000 - 700 + reserved * 10);
    assert.strictEqual(u.daily.count, 1 + reserved);
  });

  g.it(
    'a reservation counting no transaction (an increment) holds amount only and gives back only amount',
    async (t) => {
      const b = await budget(t);
      const limits: WindowLimits = { daily: { amount: 100_000, count: 1 } };
      const base = makeReservation(1000, limits);
      assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, base), { status: 'reserved' });
      // More than MOVE_AT of them, so a backend that moves holds out of a hot document moves these too.
      const increments: Reservation[] = [];
      for (let i = 0; i < 40; i++) {
        const inc: Reservation = { ...makeReservation(10, limits), count: 0 };
        assert.deepStrictEqual(
          await b.adapter.reserveUsage(b.orgId, b.authorityId, inc),
          { status: 'reserved' },
          `increment ${i}`,
        );
        increments.push(inc);
      }
      assert.deepStrictEqual(
        spentOf(await b.usage()),
        WINDOWS.map(() => [1400, 1]),
      );
      assert.deepStrictEqual(await b.adapter.reserveUsage(b.orgId, b.authorityId, makeReservation(1, limits)), {
        status: 'limit_exceeded',
        window: 'daily',
        kind: 'count',
      });
      const amountCapped: Reservation = { ...makeReservation(98_601, limits), count: 0 };
      assert.deepStrictEqual(
        (await b.adapter.reserveUsage(b.orgId, b.authorityId, amountCapped)).status,
        'limit_exceeded',
      );
      for (const inc of increments.slice(0, 30)) {
        assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, inc.reservation_id), {
          status: 'released',
          amount: 10,
        });
      }
      assert.deepStrictEqual(
        spentOf(await b.usage()),
        WINDOWS.map(() => [1100, 1]),
        'a full release gives back no transaction',
      );
      assert.deepStrictEqual(
        await b.adapter.releaseUsage(b.orgId, b.authorityId, increments[30]?.reservation_id as string, 4),
        {
          status: 'released',
          amount: 6,
        },
      );
      assert.deepStrictEqual(await b.adapter.releaseUsage(b.orgId, b.authorityId, base.reservation_id), {
        status: 'released',
        amount: 1000,
      });
      assert.deepStrictEqual(
        spentOf(await b.usage()),
        WINDOWS.map(() => [94, 0]),
      );
    },
  );
};
