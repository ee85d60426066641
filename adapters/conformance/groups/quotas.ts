import * as assert from 'node:assert/strict';
import type { QuotaStorage } from '../../../src/storage/index.js';
import { inParallel } from '../assertions.js';
import { NOW, orderedId } from '../fixtures.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

function storageOf(target: ConformanceTarget): QuotaStorage {
  if (!target.quotas) throw new Error('the quotas group needs target.quotas');
  return target.quotas;
}

const PLAN = { decisions_per_month: 1000, agents: 3, webhooks: 2 };

/** QuotaStorage: plans, exact counters under concurrency, the decision cursor's compare-and-set. */
export const quotasGroup: ConformanceGroup = ({ it, concurrency }) => {
  it('a missing record is null; setPlan creates it with zero counts and keeps counts on later changes', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    assert.strictEqual(await q.get(org), null);
    const created = await q.setPlan(org, PLAN, NOW);
    assert.deepStrictEqual(created.plan, PLAN);
    assert.strictEqual(created.agents, 0);
    assert.strictEqual(created.webhooks, 0);
    assert.deepStrictEqual(created.decisions, { cursor_seq: 0, months: {} });
    assert.strictEqual((await q.acquire(org, 'agents', NOW)).status, 'acquired');
    const changed = await q.setPlan(org, { ...PLAN, agents: 10 }, NOW);
    assert.strictEqual(changed.plan.agents, 10);
    assert.strictEqual(changed.agents, 1);
    assert.deepStrictEqual((await q.get(org))?.plan, { ...PLAN, agents: 10 });
  });

  it('acquire without a record or a limit counts; release gives back and never goes below zero', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    assert.deepStrictEqual(await q.acquire(org, 'webhooks', NOW), { status: 'acquired', used: 1 });
    assert.deepStrictEqual(await q.acquire(org, 'webhooks', NOW), { status: 'acquired', used: 2 });
    await q.release(org, 'webhooks', NOW);
    await q.release(org, 'webhooks', NOW);
    await q.release(org, 'webhooks', NOW);
    assert.strictEqual((await q.get(org))?.webhooks, 0);
    await q.release(orderedId('org'), 'agents', NOW);
  });

  it('acquire at the limit is exceeded with the limit and the count, per resource and per org', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    const other = orderedId('org');
    await q.setPlan(org, PLAN, NOW);
    await q.setPlan(other, PLAN, NOW);
    for (let i = 0; i < 3; i++) assert.strictEqual((await q.acquire(org, 'agents', NOW)).status, 'acquired');
    assert.deepStrictEqual(await q.acquire(org, 'agents', NOW), { status: 'exceeded', quota: 3, used: 3 });
    assert.strictEqual((await q.acquire(org, 'webhooks', NOW)).status, 'acquired');
    assert.strictEqual((await q.acquire(other, 'agents', NOW)).status, 'acquired');
    await q.release(org, 'agents', NOW);
    assert.deepStrictEqual(await q.acquire(org, 'agents', NOW), { status: 'acquired', used: 3 });
    await q.setPlan(org, { ...PLAN, agents: 1 }, NOW);
    assert.deepStrictEqual(await q.acquire(org, 'agents', NOW), { status: 'exceeded', quota: 1, used: 3 });
  });

  it('N concurrent acquires against a limit of L: exactly L succeed and the count is L', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    const limit = 7;
    await q.setPlan(org, { ...PLAN, agents: limit }, NOW);
    const n = Math.max(20, Math.min(concurrency, 60));
    const results = await inParallel(n, () => q.acquire(org, 'agents', NOW));
    assert.strictEqual(results.filter((r) => r.status === 'acquired').length, limit);
    assert.strictEqual((await q.get(org))?.agents, limit);
  });

  it('advanceDecisions is a compare-and-set on the cursor: a range is counted once', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    assert.strictEqual(await q.advanceDecisions(org, 5, 9, { '2026-11': 4 }, NOW), false);
    assert.strictEqual(await q.advanceDecisions(org, 0, 3, { '2026-10': 1, '2026-11': 2 }, NOW), true);
    assert.strictEqual(await q.advanceDecisions(org, 0, 3, { '2026-10': 1, '2026-11': 2 }, NOW), false);
    assert.strictEqual(await q.advanceDecisions(org, 3, 5, { '2026-11': 2 }, NOW), true);
    assert.strictEqual(await q.advanceDecisions(org, 5, 6, {}, NOW), true);
    const row = await q.get(org);
    assert.deepStrictEqual(row?.decisions, { cursor_seq: 6, months: { '2026-10': 1, '2026-11': 4 } });
    assert.deepStrictEqual(row?.plan, { decisions_per_month: null, agents: null, webhooks: null });
  });

  it('concurrent counters racing on one range: exactly one applies', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    await q.setPlan(org, PLAN, NOW);
    const results = await inParallel(Math.min(concurrency, 20), () =>
      q.advanceDecisions(org, 0, 10, { '2026-11': 10 }, NOW),
    );
    assert.strictEqual(results.filter(Boolean).length, 1);
    assert.deepStrictEqual((await q.get(org))?.decisions, { cursor_seq: 10, months: { '2026-11': 10 } });
  });

  it('returned records are copies', async (t) => {
    const q = storageOf(t);
    const org = orderedId('org');
    const row = await q.setPlan(org, PLAN, NOW);
    try {
      row.agents = 99;
      row.plan.agents = 99;
    } catch {}
    const again = await q.get(org);
    assert.strictEqual(again?.agents, 0);
    assert.strictEqual(again?.plan.agents, 3);
  });
};
