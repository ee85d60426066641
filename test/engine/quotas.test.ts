import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { isAppError } from '../../src/errors/index.js';
import { StorageError } from '../../src/storage/index.js';
import { isoTime, ManualClock } from '../../src/util/clock.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { defaultPolicy } from '../support/engine-fixture.js';

/** Two engines on one memory backend (two servers of one store), one manual clock. */
async function twoServers(now = '2026-11-23T10:00:00.000Z') {
  const stores = createMemoryStores();
  const clock = new ManualClock(now);
  const make = async (): Promise<Engine> => {
    const engine = createEngine({ store: stores.store, clock, policy: await defaultPolicy(), quotas: stores.quotas });
    await engine.init();
    return engine;
  };
  const a = await make();
  const b = await make();
  const org = await a.createOrg({ name: 'Acme' });
  const processor = await a.createProcessor({ name: 'Processor' });
  const agent = await a.createAgent(org.id, { name: 'buyer' });
  const authority = await a.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 50_000, daily: 10_000_000 },
  });
  const reference = `tok_${Math.random().toString(36).slice(2)}`;
  await a.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference, last4: '4242' },
  });
  let n = 0;
  const request = () => ({
    authorization_id: `pa_${++n}_${Math.random().toString(36).slice(2)}`,
    credential_reference: reference,
    amount: 100,
    currency: 'USD',
    merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
  });
  return { stores, clock, a, b, org, processor, agent, request };
}

const q = suite('engine quotas');

q(
  'decisions are counted per calendar month (UTC); one quota.exceeded per month; never a refused authorize',
  async () => {
    const s = await twoServers('2026-11-30T23:59:00.000Z');
    await s.a.quotas.setPlan(s.org.id, { decisions_per_month: 2, agents: null, webhooks: null });
    for (let i = 0; i < 3; i++) {
      const d = await s.a.authorize(s.processor.id, s.request());
      assert.is(d.action, 'ALLOW');
    }
    await s.a.audit.chainer.drain();
    const nov = await s.a.quotas.getUsage(s.org.id);
    assert.equal([nov.period, nov.decisions.used, nov.decisions.overage], ['2026-11', 3, 1]);
    assert.is(nov.decisions.resets_at, '2026-12-01T00:00:00.000Z');

    s.clock.set('2026-12-01T00:00:01.000Z');
    const dec0 = await s.a.quotas.getUsage(s.org.id);
    assert.equal([dec0.period, dec0.decisions.used, dec0.decisions.overage], ['2026-12', 0, 0]);
    for (let i = 0; i < 4; i++) await s.b.authorize(s.processor.id, s.request());
    await s.b.audit.chainer.drain();
    const dec = await s.b.quotas.getUsage(s.org.id);
    assert.equal(
      [dec.decisions.used, dec.decisions.overage, dec.decisions.resets_at],
      [4, 2, '2027-01-01T00:00:00.000Z'],
    );
    const record = await s.stores.quotas.get(s.org.id);
    assert.equal(record?.decisions.months, { '2026-11': 3, '2026-12': 4 });

    await s.a.audit.chainer.drain();
    const exceeded = await s.stores.store.listAuditEvents(s.org.id, { limit: 100, type: 'quota.exceeded' });
    assert.equal(
      exceeded.map((e) => [e.payload.period, e.payload.quota]),
      [
        ['2026-11', 2],
        ['2026-12', 2],
      ],
    );
    // Each month's overage is reported once, by the counter that counted it.
    assert.is(s.a.context.stats.quotaOverages + s.b.context.stats.quotaOverages, 2);
  },
);

q('two servers counting the same chain concurrently count every decision once', async () => {
  const s = await twoServers();
  await s.a.quotas.setPlan(s.org.id, { decisions_per_month: 10, agents: null, webhooks: null });
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) => (i % 2 ? s.a : s.b).authorize(s.processor.id, s.request())),
  );
  assert.is(results.length, 30);
  // Both chainers link and both counters count, racing on the cursor.
  await Promise.all([s.a.audit.chainer.drain(), s.b.audit.chainer.drain()]);
  await Promise.all([
    s.a.quotas.countDecisions(s.org.id),
    s.b.quotas.countDecisions(s.org.id),
    s.a.quotas.settled(),
    s.b.quotas.settled(),
  ]);
  const usage = await s.b.quotas.getUsage(s.org.id);
  assert.equal([usage.decisions.used, usage.decisions.overage], [30, 20]);
  await Promise.all([s.a.audit.chainer.drain(), s.b.audit.chainer.drain()]);
  const exceeded = await s.stores.store.listAuditEvents(s.org.id, { limit: 100, type: 'quota.exceeded' });
  assert.is(exceeded.length, 1);
  assert.is(s.a.context.stats.quotaOverages + s.b.context.stats.quotaOverages, 1);
});

q('two counters racing on one range: the event is written once, the overage reported once', async () => {
  const stores = createMemoryStores();
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  // Both counters read the same cursor and see the same crossing before either moves the cursor: the
  // first advance waits for the second.
  const waiting: (() => void)[] = [];
  const quotas = new Proxy(stores.quotas, {
    get(target, prop) {
      if (prop === 'advanceDecisions') {
        return async (...args: Parameters<typeof target.advanceDecisions>) => {
          if (waiting.length === 0) await new Promise<void>((ok) => waiting.push(ok));
          else for (const release of waiting.splice(0)) release();
          return target.advanceDecisions(...args);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  // The decisions are made and linked by an engine that counts nothing; two others count them.
  const maker = createEngine({ store: stores.store, clock, policy: await defaultPolicy() });
  await maker.init();
  const counter = async () => {
    const e = createEngine({ store: stores.store, clock, policy: await defaultPolicy(), quotas });
    await e.init();
    return e;
  };
  const a = await counter();
  const b = await counter();
  const org = await maker.createOrg({ name: 'Acme' });
  const processor = await maker.createProcessor({ name: 'P' });
  const agent = await maker.createAgent(org.id, { name: 'buyer' });
  const authority = await maker.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { daily: 1_000_000 },
  });
  await maker.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference: 'tok_race', last4: '4242' },
  });
  await stores.quotas.setPlan(org.id, { decisions_per_month: 1, agents: null, webhooks: null }, isoTime(clock.now()));
  for (let i = 0; i < 3; i++) {
    const d = await maker.authorize(processor.id, {
      authorization_id: `pa_race_${i}`,
      credential_reference: 'tok_race',
      amount: 100,
      currency: 'USD',
      merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
    });
    assert.is(d.action, 'ALLOW');
  }
  await maker.audit.chainer.drain();
  await Promise.all([a.quotas.countDecisions(org.id), b.quotas.countDecisions(org.id)]);
  assert.is((await stores.quotas.get(org.id))?.decisions.months['2026-11'], 3);
  assert.is(a.context.stats.quotaOverages + b.context.stats.quotaOverages, 1);
  await maker.audit.chainer.drain();
  assert.is((await stores.store.listAuditEvents(org.id, { limit: 10, type: 'quota.exceeded' })).length, 1);
});

q('concurrent revocations of one agent give its place back once', async () => {
  const s = await twoServers();
  await s.a.quotas.setPlan(s.org.id, { decisions_per_month: null, agents: 3, webhooks: null });
  const extra = await s.a.createAgent(s.org.id, { name: 'two' });
  assert.is((await s.a.quotas.getUsage(s.org.id)).agents.used, 2);
  const outcomes = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? s.a : s.b).revokeAgent(s.org.id, extra.id)),
  );
  assert.ok(outcomes.some((o) => o.status === 'fulfilled'));
  for (const o of outcomes) if (o.status === 'rejected') assert.ok(isAppError(o.reason, 'conflict'), String(o.reason));
  assert.is((await s.a.quotas.getUsage(s.org.id)).agents.used, 1);
});

q('a failed agent insert gives the place back', async () => {
  const stores = createMemoryStores();
  let failInsert = false;
  const store = new Proxy(stores.store, {
    get(target, prop) {
      if (prop === 'insertAgent') {
        return async (...args: Parameters<typeof target.insertAgent>) => {
          if (failInsert) throw new StorageError('unavailable', 'store down');
          return target.insertAgent(...args);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const engine = createEngine({ store, policy: await defaultPolicy(), quotas: stores.quotas });
  await engine.init();
  const org = await engine.createOrg({ name: 'Acme' });
  await engine.quotas.setPlan(org.id, { decisions_per_month: null, agents: 2, webhooks: null });
  await engine.createAgent(org.id, { name: 'first' });
  failInsert = true;
  await rejectsWithCode(engine.createAgent(org.id, { name: 'lost' }), 'storage_unavailable');
  failInsert = false;
  assert.is((await engine.quotas.getUsage(org.id)).agents.used, 1);
  await engine.createAgent(org.id, { name: 'kept' });
  const err = await rejectsWithCode(engine.createAgent(org.id, { name: 'one too many' }), 'quota_exceeded');
  assert.equal(err.details, { resource: 'agents', quota: 2, used: 2, resets_at: null });
});

q('without quota storage nothing is refused and the plan and usage are 503', async () => {
  const stores = createMemoryStores();
  const engine = createEngine({ store: stores.store, policy: await defaultPolicy() });
  await engine.init();
  const org = await engine.createOrg({ name: 'Free' });
  for (let i = 0; i < 3; i++) await engine.createAgent(org.id, { name: `a${i}` });
  assert.is(engine.quotas.enabled, false);
  await rejectsWithCode(engine.quotas.getUsage(org.id), 'storage_unavailable');
  await rejectsWithCode(
    engine.quotas.setPlan(org.id, { decisions_per_month: 1, agents: 1, webhooks: 1 }),
    'storage_unavailable',
  );
});

q.run();
