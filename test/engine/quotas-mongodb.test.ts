import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoStores, type MongoStores } from '../../adapters/mongodb/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

/** Two servers on one MongoDB database: each its own client, stores and engine. */
async function twoServers() {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_quotas');
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  const servers: { stores: MongoStores; engine: Engine }[] = [];
  for (let i = 0; i < 2; i++) {
    const stores = createMongoStores({ uri, dbName });
    const engine = createEngine({ store: stores.store, clock, policy: await defaultPolicy(), quotas: stores.quotas });
    await engine.init();
    servers.push({ stores, engine });
  }
  const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
  return {
    a,
    b,
    async close() {
      for (const s of servers) await s.engine.close();
      await a.stores.store.mongoClient
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
    },
  };
}

const q = suite('quotas across two servers on MongoDB');

q('concurrent agent creations on both servers never pass the plan', async () => {
  const s = await twoServers();
  try {
    const org = await s.a.engine.createOrg({ name: 'Acme' });
    await s.b.engine.quotas.setPlan(org.id, { decisions_per_month: null, agents: 6, webhooks: null });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? s.a : s.b).engine.createAgent(org.id, { name: `bot-${i}` })),
    );
    const created = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'quota_exceeded',
    ).length;
    assert.equal(
      [created, refused],
      [6, 34],
      outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok')).join(),
    );
    const agents = await s.a.engine.listAgents(org.id, { limit: 100 });
    assert.is(agents.items.length, 6);
    assert.equal((await s.b.engine.quotas.getUsage(org.id)).agents, { quota: 6, used: 6 });
  } finally {
    await s.close();
  }
});

q('decisions made and counted on both servers are counted exactly once', async () => {
  const s = await twoServers();
  try {
    const e = s.a.engine;
    const org = await e.createOrg({ name: 'Acme' });
    const processor = await e.createProcessor({ name: 'Processor' });
    const agent = await e.createAgent(org.id, { name: 'buyer' });
    const authority = await e.createAuthority(org.id, {
      agent_id: agent.id,
      currency: 'USD',
      limits: { per_transaction: 50_000, daily: 10_000_000 },
    });
    await e.createBinding(org.id, {
      agent_id: agent.id,
      authority_id: authority.id,
      processor_id: processor.id,
      credential: { type: 'network_token', reference: 'tok_quota_1', last4: '4242' },
    });
    await s.b.engine.quotas.setPlan(org.id, { decisions_per_month: 5, agents: null, webhooks: null });
    const body = (i: number) => ({
      authorization_id: `pa_${i}`,
      credential_reference: 'tok_quota_1',
      amount: 100,
      currency: 'USD',
      merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
    });
    const decisions = await Promise.all(
      Array.from({ length: 24 }, (_, i) => (i % 2 ? s.a : s.b).engine.authorize(processor.id, body(i))),
    );
    assert.ok(decisions.every((d) => d.action === 'ALLOW' && typeof d.proof === 'string'));
    await Promise.all([s.a.engine.audit.chainer.drain(), s.b.engine.audit.chainer.drain()]);
    await Promise.all([
      s.a.engine.quotas.countDecisions(org.id),
      s.b.engine.quotas.countDecisions(org.id),
      s.a.engine.quotas.settled(),
      s.b.engine.quotas.settled(),
    ]);
    const usage = await s.a.engine.quotas.getUsage(org.id);
    assert.equal([usage.decisions.used, usage.decisions.overage], [24, 19]);
    await Promise.all([s.a.engine.audit.chainer.drain(), s.b.engine.audit.chainer.drain()]);
    const exceeded = await s.a.stores.store.listAuditEvents(org.id, { limit: 100, type: 'quota.exceeded' });
    assert.is(exceeded.length, 1);
  } finally {
    await s.close();
  }
});

q('an org older than its quota record starts from the agents and endpoints it has', async () => {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_quotas');
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  const before = createMongoStores({ uri, dbName });
  const after = createMongoStores({ uri, dbName });
  try {
    // Agents and endpoints made before plans existed: an engine without quota storage.
    const old = createEngine({ store: before.store, clock, policy: await defaultPolicy() });
    await old.init();
    const org = await old.createOrg({ name: 'Acme' });
    const agents = [];
    for (let i = 0; i < 3; i++) agents.push(await old.createAgent(org.id, { name: `old-${i}` }));
    await old.revokeAgent(org.id, (agents[0] as { id: string }).id);
    await before.webhooks.init();
    const endpoint = (id: string) => ({
      id,
      org_id: org.id,
      url: 'https://hooks.acme.example/x',
      events: ['*'],
      description: null,
      status: 'active' as const,
      secret_ciphertext: 'v1.a.b.c',
      secret_last4: 'abcd',
      cursor_seq: 0,
      consecutive_failures: 0,
      disabled_at: null,
      created_at: '2026-11-23T10:00:00.000Z',
      updated_at: '2026-11-23T10:00:00.000Z',
      version: 0,
    });
    await before.webhooks.insertEndpoint(endpoint('whk_0000000001kept'));
    await before.webhooks.insertEndpoint(endpoint('whk_0000000002gone'));
    // Deleted with an audit draft: a tombstone stays until the draft is linked, and is not counted.
    await before.webhooks.deleteEndpoint(org.id, 'whk_0000000002gone', [
      {
        id: 'evt_0000000000tombstone0001',
        org_id: org.id,
        at: '2026-11-23T10:00:00.000Z',
        type: 'webhook.deleted',
        actor: 'system',
        subject: { kind: 'webhook', id: 'whk_0000000002gone' },
        agent_id: null,
        payload: {},
      },
    ]);

    const engine = createEngine({ store: after.store, clock, policy: await defaultPolicy(), quotas: after.quotas });
    await engine.init();
    const usage = await engine.quotas.setPlan(org.id, { decisions_per_month: null, agents: 3, webhooks: 1 });
    assert.equal(
      [usage.agents, usage.webhooks],
      [
        { quota: 3, used: 2 },
        { quota: 1, used: 1 },
      ],
    );
    await engine.createAgent(org.id, { name: 'new' });
    const refused = await engine.createAgent(org.id, { name: 'one too many' }).catch((err: unknown) => err);
    assert.is((refused as { code?: string }).code, 'quota_exceeded');
    await old.close();
    await engine.close();
  } finally {
    await after.store.mongoClient
      .db(dbName)
      .dropDatabase()
      .catch(() => {});
    await before.store.close().catch(() => {});
    await after.store.close().catch(() => {});
  }
});

q.run();
