import * as assert from 'node:assert/strict';
import { rejectsWith, tryMutate } from '../assertions.js';
import {
  makeAgent,
  makeAuthority,
  makeAuthorization,
  makeBinding,
  makeIntent,
  makeOrg,
  makeProcessor,
} from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup } from '../types.js';

/** Insert, get and versioned update of every entity kind; results are copies. */
export const crudGroup: ConformanceGroup = (g) => {
  g.it('inserted entities read back equal, through the adapter and directly', async ({ adapter, inspect }) => {
    const org = makeOrg();
    const processor = makeProcessor();
    await adapter.insertOrg(org);
    await adapter.insertProcessor(processor);
    const agent = makeAgent(org.id, { metadata: { team: 'ops' } });
    const authority = makeAuthority(org.id, agent.id);
    const binding = makeBinding(org.id, agent.id, authority.id, processor.id);
    const intent = makeIntent(org.id, agent.id, { authority_id: authority.id });
    await adapter.insertAgent(agent);
    await adapter.insertAuthority(authority);
    await adapter.insertBinding(binding);
    await adapter.insertIntent(intent);
    assert.deepStrictEqual(await adapter.getOrg(org.id), org);
    assert.deepStrictEqual(await adapter.getProcessor(processor.id), processor);
    assert.deepStrictEqual(await adapter.getAgent(org.id, agent.id), agent);
    assert.deepStrictEqual(await adapter.getAuthority(org.id, authority.id), authority);
    assert.deepStrictEqual(await adapter.getBinding(org.id, binding.id), binding);
    assert.deepStrictEqual(await adapter.getIntent(org.id, intent.id), intent);
    if (inspect) {
      assert.deepStrictEqual(await inspect.raw('org', org.id), org);
      assert.deepStrictEqual(await inspect.raw('processor', processor.id), processor);
      assert.deepStrictEqual(await inspect.raw('agent', agent.id), agent);
      assert.deepStrictEqual(await inspect.raw('authority', authority.id), authority);
      assert.deepStrictEqual(await inspect.raw('binding', binding.id), binding);
      assert.deepStrictEqual(await inspect.raw('intent', intent.id), intent);
    }
  });

  g.it('a miss is null, never an error', async ({ adapter }) => {
    const { org } = await seedTenant(adapter);
    assert.strictEqual(await adapter.getOrg('org_missing'), null);
    assert.strictEqual(await adapter.getProcessor('prc_missing'), null);
    assert.strictEqual(await adapter.getAgent(org.id, 'agt_missing'), null);
    assert.strictEqual(await adapter.getAuthority(org.id, 'sa_missing'), null);
    assert.strictEqual(await adapter.getBinding(org.id, 'bnd_missing'), null);
    assert.strictEqual(await adapter.getIntent(org.id, 'int_missing'), null);
    assert.strictEqual(await adapter.getAuthorization('prc_missing', 'pa_missing'), null);
    assert.strictEqual(await adapter.findBinding('prc_missing', { id: 'bnd_missing' }), null);
    assert.strictEqual(await adapter.findBinding('prc_missing', { reference: 'tok_missing' }), null);
  });

  g.it('inserting an existing id is a conflict and keeps the first', async ({ adapter, inspect }) => {
    const { org, agent, authority } = await seedTenant(adapter);
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const binding = makeBinding(org.id, agent.id, authority.id, processor.id);
    const intent = makeIntent(org.id, agent.id);
    await adapter.insertBinding(binding);
    await adapter.insertIntent(intent);
    await rejectsWith(adapter.insertOrg({ ...org, name: 'other' }), 'conflict', 'org');
    await rejectsWith(adapter.insertProcessor({ ...processor, name: 'other' }), 'conflict', 'processor');
    await rejectsWith(adapter.insertAgent({ ...agent, name: 'other' }), 'conflict', 'agent');
    await rejectsWith(adapter.insertAuthority({ ...authority, currency: 'EUR' }), 'conflict', 'authority');
    const again = { ...binding, credential: { ...binding.credential, reference: 'tok_other_ref' } };
    await rejectsWith(adapter.insertBinding(again), 'conflict', 'binding');
    await rejectsWith(adapter.insertIntent({ ...intent, description: 'other' }), 'conflict', 'intent');
    assert.deepStrictEqual(await adapter.getAgent(org.id, agent.id), agent);
    assert.deepStrictEqual(await adapter.getBinding(org.id, binding.id), binding);
    assert.strictEqual(await adapter.findBinding(processor.id, { reference: 'tok_other_ref' }), null);
    if (inspect) assert.deepStrictEqual(await inspect.raw('org', org.id), org);
  });

  g.it('update applies a shallow patch on the expected version and bumps it', async ({ adapter, inspect }) => {
    const { org, agent } = await seedTenant(adapter);
    const next = await adapter.updateAgent(org.id, agent.id, 0, { name: 'renamed', metadata: { k: 'v' } });
    assert.deepStrictEqual(next, { ...agent, name: 'renamed', metadata: { k: 'v' }, version: 1 });
    assert.deepStrictEqual(await adapter.getAgent(org.id, agent.id), next);
    if (inspect) assert.deepStrictEqual(await inspect.raw('agent', agent.id), next);
    const again = await adapter.updateAgent(org.id, agent.id, 1, { status: 'paused' });
    assert.strictEqual(again?.version, 2);
    assert.strictEqual(again?.name, 'renamed');
  });

  g.it('update on a stale version is a conflict and changes nothing', async ({ adapter, inspect }) => {
    const { org, agent, authority } = await seedTenant(adapter);
    await adapter.updateAgent(org.id, agent.id, 0, { name: 'first' });
    await rejectsWith(adapter.updateAgent(org.id, agent.id, 0, { name: 'second' }), 'conflict', 'agent');
    await rejectsWith(adapter.updateAuthority(org.id, authority.id, 5, { status: 'paused' }), 'conflict', 'authority');
    assert.strictEqual((await adapter.getAgent(org.id, agent.id))?.name, 'first');
    assert.deepStrictEqual(await adapter.getAuthority(org.id, authority.id), authority);
    if (inspect) assert.deepStrictEqual(await inspect.raw('authority', authority.id), authority);
  });

  g.it('update of a missing id is null', async ({ adapter }) => {
    const { org } = await seedTenant(adapter);
    assert.strictEqual(await adapter.updateAgent(org.id, 'agt_missing', 0, { name: 'x' }), null);
    assert.strictEqual(await adapter.updateAuthority(org.id, 'sa_missing', 0, { status: 'paused' }), null);
    assert.strictEqual(await adapter.updateBinding(org.id, 'bnd_missing', 0, { status: 'suspended' }), null);
    assert.strictEqual(await adapter.updateIntent(org.id, 'int_missing', 0, { status: 'cancelled' }), null);
    assert.strictEqual(
      await adapter.updateAuthorization('prc_missing', 'pa_missing', { version: 0 }, { status: 'declined' }),
      null,
    );
  });

  g.it('a patch never moves an entity to another id or org', async ({ adapter }) => {
    const { org, agent, authority } = await seedTenant(adapter);
    const other = makeOrg();
    await adapter.insertOrg(other);
    const patched = await adapter.updateAuthority(org.id, authority.id, 0, {
      id: 'sa_moved',
      org_id: other.id,
      status: 'paused',
    });
    assert.strictEqual(patched?.id, authority.id);
    assert.strictEqual(patched?.org_id, org.id);
    assert.strictEqual(patched?.status, 'paused');
    assert.strictEqual(await adapter.getAuthority(other.id, authority.id), null);
    assert.strictEqual(await adapter.getAuthority(other.id, 'sa_moved'), null);
    assert.strictEqual((await adapter.getAgent(org.id, agent.id))?.id, agent.id);
  });

  g.it('every entity kind updates under its version', async ({ adapter }) => {
    const { org, agent, authority } = await seedTenant(adapter);
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const binding = makeBinding(org.id, agent.id, authority.id, processor.id);
    const intent = makeIntent(org.id, agent.id);
    await adapter.insertBinding(binding);
    await adapter.insertIntent(intent);
    const limits = { ...authority.limits, daily: 5 };
    assert.deepStrictEqual(await adapter.updateAuthority(org.id, authority.id, 0, { limits }), {
      ...authority,
      limits,
      version: 1,
    });
    assert.deepStrictEqual(await adapter.updateBinding(org.id, binding.id, 0, { status: 'suspended' }), {
      ...binding,
      status: 'suspended',
      version: 1,
    });
    assert.deepStrictEqual(await adapter.updateIntent(org.id, intent.id, 0, { status: 'cancelled' }), {
      ...intent,
      status: 'cancelled',
      version: 1,
    });
  });

  g.it('mutating a returned object or the inserted input never changes the store', async ({ adapter }) => {
    const { org, agent, authority } = await seedTenant(adapter);
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const binding = makeBinding(org.id, agent.id, authority.id, processor.id);
    await adapter.insertBinding(binding);
    const record = makeAuthorization(processor.id, org.id);
    await adapter.claimAuthorization(record);
    const pristine = {
      org: structuredClone(org),
      agent: structuredClone(agent),
      binding: structuredClone(binding),
      record: structuredClone(record),
    };
    tryMutate(agent);
    tryMutate(binding);
    tryMutate(record);
    for (const result of [
      await adapter.getOrg(org.id),
      await adapter.getAgent(org.id, pristine.agent.id),
      await adapter.getBinding(org.id, pristine.binding.id),
      await adapter.findBinding(processor.id, { reference: pristine.binding.credential.reference }),
      await adapter.getAuthorization(processor.id, pristine.record.authorization_id),
      (await adapter.listAgents(org.id, { limit: 10 })).items[0],
      (await adapter.listAuthorizations(org.id, { limit: 10 })).items[0],
    ]) {
      assert.ok(result, 'stored object expected');
      tryMutate(result as object);
    }
    const claimed = await adapter.claimAuthorization(pristine.record);
    if (!claimed.created) tryMutate(claimed.existing);
    const updated = await adapter.updateAgent(org.id, pristine.agent.id, 0, { name: 'x' });
    if (updated) tryMutate(updated);
    assert.deepStrictEqual(await adapter.getOrg(org.id), pristine.org);
    assert.deepStrictEqual(await adapter.getAgent(org.id, pristine.agent.id), {
      ...pristine.agent,
      name: 'x',
      version: 1,
    });
    assert.deepStrictEqual(await adapter.getBinding(org.id, pristine.binding.id), pristine.binding);
    assert.deepStrictEqual(
      await adapter.getAuthorization(processor.id, pristine.record.authorization_id),
      pristine.record,
    );
  });

  g.it('integers round-trip as plain numbers, small and large', async ({ adapter, inspect }) => {
    const { org, agent } = await seedTenant(adapter);
    const big = Number.MAX_SAFE_INTEGER;
    const authority = makeAuthority(org.id, agent.id, {
      limits: { per_transaction: 0, daily: 2 ** 31, weekly: 2 ** 40, monthly: big, total: 1 },
    });
    await adapter.insertAuthority(authority);
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const record = makeAuthorization(processor.id, org.id, { amount: 2 ** 33, approved_amount: 2 ** 31 - 1 });
    await adapter.claimAuthorization(record);
    const read = await adapter.getAuthority(org.id, authority.id);
    assert.deepStrictEqual(read, authority);
    assert.strictEqual(typeof read?.limits.monthly, 'number');
    const rec = await adapter.getAuthorization(processor.id, record.authorization_id);
    assert.strictEqual(rec?.amount, 2 ** 33);
    assert.strictEqual(typeof rec?.amount, 'number');
    assert.strictEqual(typeof rec?.version, 'number');
    if (inspect) assert.deepStrictEqual(await inspect.authorization(processor.id, record.authorization_id), record);
  });

  g.it('free-form keys (dots, dollars, percent) round-trip', async ({ adapter }) => {
    const { org } = await seedTenant(adapter);
    const metadata = { 'team.name': 'ops', $cost: 'center', '100%': 'sure', plain: 'x' };
    const agent = makeAgent(org.id, { metadata });
    await adapter.insertAgent(agent);
    assert.deepStrictEqual((await adapter.getAgent(org.id, agent.id))?.metadata, metadata);
    const next = await adapter.updateAgent(org.id, agent.id, 0, { metadata: { ...metadata, 'a.b.c': 'd' } });
    assert.deepStrictEqual(next?.metadata, { ...metadata, 'a.b.c': 'd' });
    const processor = makeProcessor();
    await adapter.insertProcessor(processor);
    const record = makeAuthorization(processor.id, org.id, { policy_input: { agent: { metadata } } });
    await adapter.claimAuthorization(record);
    const stored = await adapter.updateAuthorization(
      processor.id,
      record.authorization_id,
      { version: 0 },
      { policy_input: { agent: { metadata, more: { 'x.y': 1 } } } },
    );
    assert.deepStrictEqual(stored?.policy_input, { agent: { metadata, more: { 'x.y': 1 } } });
  });
};
