import * as assert from 'node:assert/strict';
import { makeAuthorization, makeBinding, makeIntent, makeProcessor, makeReservation } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

async function twoOrgs({ adapter }: ConformanceTarget) {
  const a = await seedTenant(adapter);
  const b = await seedTenant(adapter);
  const processor = makeProcessor();
  await adapter.insertProcessor(processor);
  const binding = makeBinding(a.org.id, a.agent.id, a.authority.id, processor.id);
  const intent = makeIntent(a.org.id, a.agent.id, { single_use: false, max_amount: 5000 });
  await adapter.insertBinding(binding);
  await adapter.insertIntent(intent);
  await adapter.consumeIntent(a.org.id, intent.id, 'rsv_a1', 1000);
  const consumed = await adapter.getIntent(a.org.id, intent.id);
  const reservation = makeReservation(700, { daily: { amount: 1000 } });
  assert.deepStrictEqual(await adapter.reserveUsage(a.org.id, a.authority.id, reservation), { status: 'reserved' });
  const record = makeAuthorization(processor.id, a.org.id, { agent_id: a.agent.id });
  await adapter.claimAuthorization(record);
  return { a, b, processor, binding, intent: consumed as NonNullable<typeof consumed>, reservation, record };
}

/** Nothing of org A can be read or written through any org-scoped method with org B's id. */
export const tenancyGroup: ConformanceGroup = (g) => {
  g.it('gets with another org’s id miss', async (t) => {
    const { adapter } = t;
    const { a, b, binding, intent } = await twoOrgs(t);
    assert.strictEqual(await adapter.getAgent(b.org.id, a.agent.id), null);
    assert.strictEqual(await adapter.getAuthority(b.org.id, a.authority.id), null);
    assert.strictEqual(await adapter.getBinding(b.org.id, binding.id), null);
    assert.strictEqual(await adapter.getIntent(b.org.id, intent.id), null);
    assert.strictEqual(await adapter.getAgent(a.org.id, b.agent.id), null);
  });

  g.it('updates with another org’s id miss and change nothing', async (t) => {
    const { adapter, inspect } = t;
    const { a, b, binding, intent } = await twoOrgs(t);
    assert.strictEqual(await adapter.updateAgent(b.org.id, a.agent.id, 0, { name: 'stolen' }), null);
    assert.strictEqual(await adapter.updateAuthority(b.org.id, a.authority.id, 0, { status: 'revoked' }), null);
    assert.strictEqual(await adapter.updateBinding(b.org.id, binding.id, 0, { status: 'revoked' }), null);
    assert.strictEqual(await adapter.updateIntent(b.org.id, intent.id, intent.version, { status: 'cancelled' }), null);
    assert.deepStrictEqual(await adapter.getAgent(a.org.id, a.agent.id), a.agent);
    assert.deepStrictEqual(await adapter.getAuthority(a.org.id, a.authority.id), a.authority);
    assert.deepStrictEqual(await adapter.getBinding(a.org.id, binding.id), binding);
    assert.deepStrictEqual(await adapter.getIntent(a.org.id, intent.id), intent);
    assert.deepStrictEqual(
      await adapter.findBinding(binding.processor_id, { reference: binding.credential.reference }),
      binding,
    );
    if (inspect) {
      assert.deepStrictEqual(await inspect.raw('agent', a.agent.id), a.agent);
      assert.deepStrictEqual(await inspect.raw('binding', binding.id), binding);
      assert.deepStrictEqual(await inspect.raw('intent', intent.id), intent);
    }
  });

  g.it('lists of another org show none of its rows', async (t) => {
    const { adapter } = t;
    const { a, b, binding, intent, record } = await twoOrgs(t);
    const ids = async (p: Promise<{ items: unknown[] }>) =>
      (await p).items.map(
        (r) =>
          (r as { id?: string; authorization_id?: string }).id ?? (r as { authorization_id: string }).authorization_id,
      );
    const q = { limit: 100 };
    assert.ok(!(await ids(adapter.listAgents(b.org.id, q))).includes(a.agent.id));
    assert.ok(!(await ids(adapter.listAuthorities(b.org.id, q))).includes(a.authority.id));
    assert.ok(!(await ids(adapter.listBindings(b.org.id, q))).includes(binding.id));
    assert.ok(!(await ids(adapter.listIntents(b.org.id, q))).includes(intent.id));
    assert.ok(!(await ids(adapter.listAuthorizations(b.org.id, q))).includes(record.authorization_id));
    assert.ok(!(await ids(adapter.listAuthorities(b.org.id, { limit: 100, agent_id: a.agent.id }))).length);
    assert.ok((await ids(adapter.listAuthorizations(a.org.id, q))).includes(record.authorization_id));
  });

  g.it('a processor never sees another processor’s authorizations', async (t) => {
    const { adapter } = t;
    const { a, b, processor, record } = await twoOrgs(t);
    const other = makeProcessor();
    await adapter.insertProcessor(other);
    // The same authorization id under the other processor, and records of it in both orgs.
    const twin = makeAuthorization(other.id, b.org.id, { authorization_id: record.authorization_id });
    const otherInA = makeAuthorization(other.id, a.org.id, { agent_id: a.agent.id });
    await adapter.claimAuthorization(twin);
    await adapter.claimAuthorization(otherInA);
    const keys = async (processorId: string, query: { limit: number; cursor?: string; agent_id?: string }) =>
      (await adapter.listProcessorAuthorizations(processorId, query)).items.map(
        (r) => `${r.processor_id}/${r.authorization_id}`,
      );
    assert.deepStrictEqual(await keys(processor.id, { limit: 100 }), [`${processor.id}/${record.authorization_id}`]);
    assert.deepStrictEqual(
      (await keys(other.id, { limit: 100 })).sort(),
      [`${other.id}/${otherInA.authorization_id}`, `${other.id}/${twin.authorization_id}`].sort(),
    );
    assert.deepStrictEqual(await keys(other.id, { limit: 100, agent_id: a.agent.id }), [
      `${other.id}/${otherInA.authorization_id}`,
    ]);
    // A cursor taken from one processor's list shows nothing of another's.
    const page = await adapter.listProcessorAuthorizations(other.id, { limit: 1 });
    if (page.next_cursor !== null) {
      for (const k of await keys(processor.id, { limit: 100, cursor: page.next_cursor })) {
        assert.ok(k.startsWith(`${processor.id}/`), k);
      }
    }
    assert.deepStrictEqual(await keys(makeProcessor().id, { limit: 100 }), []);
  });

  g.it('intents cannot be consumed or released through another org', async (t) => {
    const { adapter, inspect } = t;
    const { a, b, intent } = await twoOrgs(t);
    assert.strictEqual(await adapter.consumeIntent(b.org.id, intent.id, 'rsv_b1', 100), 'not_found');
    assert.strictEqual(await adapter.releaseIntent(b.org.id, intent.id, 'rsv_a1'), 'not_held');
    assert.deepStrictEqual(await adapter.getIntent(a.org.id, intent.id), intent);
    if (inspect) assert.deepStrictEqual(await inspect.raw('intent', intent.id), intent);
  });

  g.it('usage of an authority is invisible and untouchable through another org', async (t) => {
    const { adapter, inspect } = t;
    const { a, b, reservation } = await twoOrgs(t);
    const periods = {
      daily: reservation.windows.daily.period,
      weekly: reservation.windows.weekly.period,
      monthly: reservation.windows.monthly.period,
      total: reservation.windows.total.period,
    };
    const before = await adapter.getUsage(a.org.id, a.authority.id, periods);
    assert.strictEqual(before.daily.spent, 700);
    const seenByB = await adapter.getUsage(b.org.id, a.authority.id, periods);
    assert.deepStrictEqual(seenByB.daily, { period: periods.daily, spent: 0, count: 0 });
    assert.deepStrictEqual(await adapter.releaseUsage(b.org.id, a.authority.id, reservation.reservation_id), {
      status: 'not_held',
    });
    // B may hold usage under its own key, but it must never count against A's budget.
    await adapter.reserveUsage(b.org.id, a.authority.id, makeReservation(300, { daily: { amount: 1000 } }));
    await adapter.reserveUsage(b.org.id, a.authority.id, { ...reservation });
    assert.deepStrictEqual(await adapter.getUsage(a.org.id, a.authority.id, periods), before);
    if (inspect) {
      const stored = await inspect.usage(a.org.id, a.authority.id);
      assert.strictEqual(stored.windows.daily.spent, 700);
      assert.deepStrictEqual(stored.holds, [reservation.reservation_id]);
    }
    assert.deepStrictEqual(await adapter.releaseUsage(a.org.id, a.authority.id, reservation.reservation_id), {
      status: 'released',
      amount: 700,
    });
  });
};
