import * as assert from 'node:assert/strict';
import { rejectsWith } from '../assertions.js';
import { makeBinding, makeOrg, makeProcessor } from '../fixtures.js';
import { seedTenant } from '../seed.js';
import type { ConformanceGroup, ConformanceTarget } from '../types.js';

async function withProcessors({ adapter }: ConformanceTarget) {
  const tenant = await seedTenant(adapter);
  const processor = makeProcessor();
  const otherProcessor = makeProcessor();
  await adapter.insertProcessor(processor);
  await adapter.insertProcessor(otherProcessor);
  const bind = (processorId: string, reference?: string, status: 'active' | 'revoked' = 'active') => {
    const b = makeBinding(tenant.org.id, tenant.agent.id, tenant.authority.id, processorId, { status });
    if (reference !== undefined) b.credential.reference = reference;
    return b;
  };
  return { ...tenant, processor, otherProcessor, bind };
}

/** findBinding by reference and id, reference uniqueness among live bindings, orgs and processors. */
export const lookupsGroup: ConformanceGroup = (g) => {
  g.it('findBinding by reference finds only the processor’s own binding', async (t) => {
    const { adapter } = t;
    const { processor, otherProcessor, bind } = await withProcessors(t);
    const binding = bind(processor.id);
    await adapter.insertBinding(binding);
    const ref = binding.credential.reference;
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { reference: ref }), binding);
    assert.strictEqual(await adapter.findBinding(otherProcessor.id, { reference: ref }), null);
    assert.strictEqual(await adapter.findBinding(processor.id, { reference: `${ref}x` }), null);
  });

  g.it('findBinding by id finds any binding, whatever the processor', async (t) => {
    const { adapter } = t;
    const { processor, otherProcessor, bind } = await withProcessors(t);
    const binding = bind(processor.id);
    await adapter.insertBinding(binding);
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { id: binding.id }), binding);
    assert.deepStrictEqual(await adapter.findBinding(otherProcessor.id, { id: binding.id }), binding);
  });

  g.it('a live reference is unique per processor, not across processors', async (t) => {
    const { adapter } = t;
    const { org, processor, otherProcessor, bind } = await withProcessors(t);
    const first = bind(processor.id, 'tok_shared');
    await adapter.insertBinding(first);
    const clash = bind(processor.id, 'tok_shared');
    await rejectsWith(adapter.insertBinding(clash), 'conflict', 'same processor and reference');
    assert.strictEqual(await adapter.getBinding(org.id, clash.id), null);
    const elsewhere = bind(otherProcessor.id, 'tok_shared');
    await adapter.insertBinding(elsewhere);
    assert.deepStrictEqual(await adapter.findBinding(otherProcessor.id, { reference: 'tok_shared' }), elsewhere);
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { reference: 'tok_shared' }), first);
  });

  g.it('a suspended binding keeps its reference', async (t) => {
    const { adapter } = t;
    const { org, processor, bind } = await withProcessors(t);
    const binding = bind(processor.id);
    await adapter.insertBinding(binding);
    await adapter.updateBinding(org.id, binding.id, 0, { status: 'suspended' });
    const found = await adapter.findBinding(processor.id, { reference: binding.credential.reference });
    assert.strictEqual(found?.status, 'suspended');
    await rejectsWith(adapter.insertBinding(bind(processor.id, binding.credential.reference)), 'conflict', 'taken');
  });

  g.it('a revoked binding is not found by reference and the reference can be bound again', async (t) => {
    const { adapter } = t;
    const { org, processor, bind } = await withProcessors(t);
    const binding = bind(processor.id);
    const ref = binding.credential.reference;
    await adapter.insertBinding(binding);
    await adapter.updateBinding(org.id, binding.id, 0, { status: 'revoked' });
    assert.strictEqual(await adapter.findBinding(processor.id, { reference: ref }), null);
    assert.strictEqual((await adapter.findBinding(processor.id, { id: binding.id }))?.status, 'revoked');
    const rebound = bind(processor.id, ref);
    await adapter.insertBinding(rebound);
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { reference: ref }), rebound);
    await rejectsWith(adapter.insertBinding(bind(processor.id, ref)), 'conflict', 'rebound reference is taken');
  });

  g.it('a binding stored as revoked never takes its reference', async (t) => {
    const { adapter } = t;
    const { processor, bind } = await withProcessors(t);
    const revoked = bind(processor.id, 'tok_old', 'revoked');
    await adapter.insertBinding(revoked);
    assert.strictEqual(await adapter.findBinding(processor.id, { reference: 'tok_old' }), null);
    const live = bind(processor.id, 'tok_old');
    await adapter.insertBinding(live);
    assert.deepStrictEqual(await adapter.findBinding(processor.id, { reference: 'tok_old' }), live);
  });

  g.it('getOrg and getProcessor find what was stored', async ({ adapter }) => {
    const org = makeOrg({ status: 'suspended' });
    const processor = makeProcessor({ name: 'Second' });
    await adapter.insertOrg(org);
    await adapter.insertProcessor(processor);
    assert.deepStrictEqual(await adapter.getOrg(org.id), org);
    assert.deepStrictEqual(await adapter.getProcessor(processor.id), processor);
    assert.strictEqual(await adapter.getOrg(processor.id), null);
    assert.strictEqual(await adapter.getProcessor(org.id), null);
  });
};
