import * as assert from 'node:assert/strict';
import { RELEASED_CONSUMPTION } from '../../../src/storage/index.js';
import type { Intent } from '../../../src/types.js';
import { countOf, inParallel } from '../assertions.js';
import { makeIntent } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

async function intentOf({ adapter }: ConformanceTarget, overrides: Partial<Intent> = {}) {
  const { org, agent } = await seedTenant(adapter);
  const intent = makeIntent(org.id, agent.id, overrides);
  await adapter.insertIntent(intent);
  const read = async () => (await adapter.getIntent(org.id, intent.id)) as Intent;
  return { orgId: org.id, intent, read };
}

/** Atomic, replay-safe consumption of intents. */
export const intentsGroup: ConformanceGroup = (g) => {
  g.it('consume records the amount; a single-use intent becomes consumed', async (t) => {
    const { adapter, inspect } = t;
    const { orgId, intent, read } = await intentOf(t, { max_amount: 5000 });
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 4000), 'consumed');
    const after = await read();
    assert.strictEqual(after.status, 'consumed');
    assert.strictEqual(after.consumed_amount, 4000);
    assert.deepStrictEqual(after.consumptions, { rsv_1: 4000 });
    if (inspect) assert.deepStrictEqual(await inspect.raw('intent', intent.id), after);
  });

  g.it('consume refuses over the maximum, a non-approved intent, and a missing one', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t, { max_amount: 5000, single_use: false });
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 5001), 'rejected');
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_2', 3000), 'consumed');
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_3', 2001), 'rejected');
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_4', 2000), 'consumed');
    const full = await read();
    assert.strictEqual(full.status, 'approved');
    assert.strictEqual(full.consumed_amount, 5000);
    const cancelled = await adapter.updateIntent(orgId, intent.id, full.version, { status: 'cancelled' });
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_5', 0), 'rejected');
    assert.deepStrictEqual(await read(), cancelled);
    assert.strictEqual(await adapter.consumeIntent(orgId, 'int_missing', 'rsv_6', 1), 'not_found');
  });

  g.it('a replayed consumption is already_applied and changes nothing', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t);
    await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 100);
    const before = await read();
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 100), 'already_applied');
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 7), 'already_applied');
    assert.deepStrictEqual(await read(), before);
  });

  g.it('release gives a consumption back once and re-opens a single-use intent', async (t) => {
    const { adapter, inspect } = t;
    const { orgId, intent, read } = await intentOf(t);
    await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 900);
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'rsv_1'), 'released');
    const after = await read();
    assert.strictEqual(after.status, 'approved');
    assert.strictEqual(after.consumed_amount, 0);
    assert.deepStrictEqual(after.consumptions, { rsv_1: RELEASED_CONSUMPTION }, 'a released id stays recorded');
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'rsv_1'), 'not_held');
    assert.strictEqual(await adapter.releaseIntent(orgId, 'int_missing', 'rsv_1'), 'not_held');
    assert.deepStrictEqual(await read(), after);
    if (inspect) assert.deepStrictEqual(await inspect.raw('intent', intent.id), after);
    assert.strictEqual(
      await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 900),
      'already_applied',
      'never applied again',
    );
    assert.deepStrictEqual(await read(), after);
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_2', 500), 'consumed');
  });

  g.it('a full release of a consumption never applied ends its id: a late consume applies nothing', async (t) => {
    const { adapter, inspect } = t;
    const { orgId, intent, read } = await intentOf(t);
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'rsv_late', 5), 'not_held', 'with keep');
    assert.deepStrictEqual((await read()).consumptions, {}, 'a capture of an unknown id changes nothing');
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'rsv_late'), 'not_held');
    const ended = await read();
    assert.deepStrictEqual([ended.status, ended.consumed_amount], ['approved', 0]);
    assert.deepStrictEqual(ended.consumptions, { rsv_late: RELEASED_CONSUMPTION });
    if (inspect) assert.deepStrictEqual(await inspect.raw('intent', intent.id), ended);
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'rsv_late', 900), 'already_applied');
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'rsv_late'), 'not_held');
    assert.deepStrictEqual(await read(), ended, 'neither the late consume nor a second release changed anything');
    assert.strictEqual(
      await adapter.consumeIntent(orgId, intent.id, 'rsv_next', 900),
      'consumed',
      'the intent is still free',
    );
  });

  g.it('a consume racing a full release of the same id: consumed then given back, or never applied', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t, { single_use: false, max_amount: 1_000_000 });
    const n = Math.min(g.concurrency, 50);
    const pairs = await inParallel(n, (i) =>
      Promise.all([
        adapter.consumeIntent(orgId, intent.id, `rsv_race_${i}`, 10),
        adapter.releaseIntent(orgId, intent.id, `rsv_race_${i}`),
      ]),
    );
    for (const [consumed, released] of pairs) {
      assert.ok(
        (consumed === 'consumed' && released === 'released') ||
          (consumed === 'already_applied' && released === 'not_held'),
        `${consumed}/${released}`,
      );
    }
    const after = await read();
    assert.strictEqual(after.consumed_amount, 0, 'nothing stays consumed');
    for (let i = 0; i < n; i++) {
      assert.strictEqual(after.consumptions[`rsv_race_${i}`], RELEASED_CONSUMPTION);
      assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, `rsv_race_${i}`, 10), 'already_applied');
    }
  });

  g.it('release with keep (a capture) shrinks the consumption once and keeps the status', async (t) => {
    const { adapter, inspect } = t;
    const single = await intentOf(t);
    await adapter.consumeIntent(single.orgId, single.intent.id, 'rsv_1', 900);
    assert.strictEqual(await adapter.releaseIntent(single.orgId, single.intent.id, 'rsv_1', 600), 'released');
    let after = await single.read();
    assert.deepStrictEqual(
      [after.status, after.consumed_amount, after.consumptions],
      ['consumed', 600, { rsv_1: 600 }],
    );
    assert.strictEqual(await adapter.releaseIntent(single.orgId, single.intent.id, 'rsv_1', 600), 'released');
    assert.deepStrictEqual(await single.read(), after, 'repeating the same capture changes nothing');
    if (inspect) assert.deepStrictEqual(await inspect.raw('intent', single.intent.id), after);
    const multi = await intentOf(t, { single_use: false, max_amount: 1000 });
    await adapter.consumeIntent(multi.orgId, multi.intent.id, 'rsv_a', 700);
    await adapter.releaseIntent(multi.orgId, multi.intent.id, 'rsv_a', 200);
    after = await multi.read();
    assert.deepStrictEqual([after.status, after.consumed_amount], ['approved', 200]);
    assert.strictEqual(
      await adapter.consumeIntent(multi.orgId, multi.intent.id, 'rsv_b', 800),
      'consumed',
      'the rest is free',
    );
    assert.strictEqual(await adapter.releaseIntent(multi.orgId, multi.intent.id, 'rsv_unknown', 1), 'not_held');
  });

  g.it('release keeps a cancelled intent cancelled', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t, { single_use: false });
    await adapter.consumeIntent(orgId, intent.id, 'rsv_1', 900);
    const cur = await read();
    await adapter.updateIntent(orgId, intent.id, cur.version, { status: 'cancelled' });
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'rsv_1'), 'released');
    const after = await read();
    assert.deepStrictEqual([after.status, after.consumed_amount], ['cancelled', 0]);
  });

  g.it('consumption ids with dots and dollars are plain keys', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t, { single_use: false });
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, 'a.b', 1), 'consumed');
    assert.strictEqual(await adapter.consumeIntent(orgId, intent.id, '$c', 2), 'consumed');
    assert.deepStrictEqual((await read()).consumptions, { 'a.b': 1, $c: 2 });
    assert.strictEqual(await adapter.releaseIntent(orgId, intent.id, 'a.b'), 'released');
    assert.deepStrictEqual((await read()).consumptions, { 'a.b': RELEASED_CONSUMPTION, $c: 2 });
  });

  g.it('of N concurrent consumes of a single-use intent exactly one wins', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t);
    const results = await inParallel(g.concurrency, (i) => adapter.consumeIntent(orgId, intent.id, `rsv_${i}`, 10));
    assert.strictEqual(countOf(results, 'consumed'), 1);
    assert.strictEqual(countOf(results, 'rejected'), g.concurrency - 1);
    const after = await read();
    assert.strictEqual(after.consumed_amount, 10);
    assert.strictEqual(Object.keys(after.consumptions).length, 1);
  });

  g.it('N concurrent consumes of a multi-use intent stop exactly at its maximum', async (t) => {
    const { adapter } = t;
    const fits = Math.floor(g.concurrency / 3) + 1;
    const { orgId, intent, read } = await intentOf(t, { single_use: false, max_amount: fits * 10 + 9 });
    const results = await inParallel(g.concurrency, (i) => adapter.consumeIntent(orgId, intent.id, `rsv_${i}`, 10));
    assert.strictEqual(countOf(results, 'consumed'), fits);
    const after = await read();
    assert.strictEqual(after.consumed_amount, fits * 10);
    assert.strictEqual(Object.keys(after.consumptions).length, fits);
  });

  g.it('concurrent replays and releases of one consumption apply each once', async (t) => {
    const { adapter } = t;
    const { orgId, intent, read } = await intentOf(t, { single_use: false });
    const n = Math.min(g.concurrency, 100);
    const consumed = await inParallel(n, () => adapter.consumeIntent(orgId, intent.id, 'rsv_same', 40));
    assert.strictEqual(countOf(consumed, 'consumed'), 1);
    assert.strictEqual(countOf(consumed, 'already_applied'), n - 1);
    const released = await inParallel(n, () => adapter.releaseIntent(orgId, intent.id, 'rsv_same'));
    assert.strictEqual(countOf(released, 'released'), 1);
    assert.strictEqual((await read()).consumed_amount, 0);
  });
};
