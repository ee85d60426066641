import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoAdapter } from '../../adapters/mongodb/index.js';
import { type AuditEvent, auditHash, GENESIS_HASH } from '../../src/audit/index.js';
import { createEngine } from '../../src/engine/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { freshDbName, mongoInspector, testMongoServer } from '../support/mongo-target.js';
import { startWorker } from '../support/race-process.js';
import type { RaceOutcome } from '../support/race-worker.js';
import { runSkewedRace } from '../support/skewed-race.js';

const NOW = '2026-11-23T10:00:00.000Z';
const PER_PROCESS = 150;
const SHARED = 50;
const LIMITS = { per_transaction: null, daily: 123_457, weekly: 150_000, monthly: 1_000_000, total: 5_000_000 };
const VELOCITY = { daily: 70 };

const race = suite('two engine processes on one MongoDB database');

race('no overspend, one decision and one reservation per authorization id', async () => {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_race');
  const store = createMongoAdapter({ uri, dbName });
  const engine = createEngine({ store, clock: new ManualClock(NOW), policy: await defaultPolicy() });
  const inspector = new MongoClient(uri);
  try {
    await engine.init();
    const org = await engine.createOrg({ name: 'Acme' });
    const processor = await engine.createProcessor({ name: 'Processor One' });
    const agent = await engine.createAgent(org.id, { name: 'buyer' });
    const authority = await engine.createAuthority(org.id, {
      agent_id: agent.id,
      currency: 'USD',
      limits: LIMITS,
      velocity: VELOCITY,
    });
    const reference = `tok_race_${Date.now()}`;
    await engine.createBinding(org.id, {
      agent_id: agent.id,
      authority_id: authority.id,
      processor_id: processor.id,
      credential: { type: 'network_token', reference, last4: '4242' },
    });

    const env = {
      MONGODB_URI: uri,
      RACE_DB: dbName,
      RACE_PROCESSOR: processor.id,
      RACE_REFERENCE: reference,
      RACE_NOW: NOW,
      RACE_SHARED: String(SHARED),
      RACE_OWN: String(PER_PROCESS - SHARED),
    };
    const workers = [startWorker('w1', env), startWorker('w2', env)];
    await Promise.all(workers.map((w) => w.ready));
    const started = performance.now();
    for (const w of workers) w.go();
    const [one, two] = (await Promise.all(workers.map((w) => w.result))) as [RaceOutcome[], RaceOutcome[]];
    const elapsed = performance.now() - started;

    const all = [...one, ...two];
    assert.equal(
      all.filter((o) => o.error !== null).map((o) => o.error),
      [],
      'no request failed',
    );
    const byId = new Map<string, RaceOutcome>();
    for (const o of all) {
      const twin = byId.get(o.authorization_id);
      if (twin) assert.is(o.decision_id, twin.decision_id, `${o.authorization_id} decided twice`);
      else byId.set(o.authorization_id, o);
    }
    assert.is(byId.size, 2 * PER_PROCESS - SHARED);
    const approved = [...byId.values()].filter((o) => o.allowed);
    const spent = approved.reduce((s, o) => s + o.approved_amount, 0);
    assert.ok(approved.length > 0 && approved.length < byId.size, `approved ${approved.length}`);
    for (const limit of Object.values(LIMITS))
      if (limit !== null) assert.ok(spent <= limit, `spent ${spent} > ${limit}`);
    assert.ok(approved.length <= VELOCITY.daily);

    const usage = await engine.getAuthorityUsage(org.id, authority.id);
    for (const w of ['daily', 'weekly', 'monthly', 'total'] as const) {
      assert.is(usage.windows[w].spent, spent, `${w} spent`);
      assert.is(usage.windows[w].count, approved.length, `${w} count`);
    }
    const stored = await mongoInspector(inspector, dbName).usage(org.id, authority.id);
    assert.is(stored.holds.length, approved.length, 'one hold per approval');
    const holds = new Set(stored.holds);
    for (const o of approved) {
      const rec = await engine.getAuthorization(processor.id, o.authorization_id);
      assert.is(rec.status, 'approved');
      assert.is(rec.decision_id, o.decision_id);
    }
    const records = await inspector
      .db(dbName)
      .collection('authorizations')
      .find({ status: 'approved' }, { projection: { reservation_id: 1, authorization_id: 1 } })
      .toArray();
    assert.is(records.length, approved.length);
    for (const r of records) assert.ok(holds.has(r.reservation_id), `${r.authorization_id} holds no reservation`);
    // One unbroken audit chain: both processes linked it at once; every decision is in it exactly once.
    await engine.audit.chainer.drain();
    const chain: AuditEvent[] = [];
    for (let after = 0; ; ) {
      const page = await store.listAuditEvents(org.id, { after_seq: after, limit: 1000 });
      if (page.length === 0) break;
      chain.push(...page);
      after = (page[page.length - 1] as AuditEvent).seq;
    }
    let prev = GENESIS_HASH;
    chain.forEach((e, i) => {
      assert.is(e.seq, i + 1);
      assert.is(e.prev_hash, prev, `prev_hash of ${e.seq}`);
      assert.is(auditHash(e), e.hash, `hash of ${e.seq}`);
      prev = e.hash;
    });
    const decisionEvents = chain.filter((e) => e.type.startsWith('authorization.'));
    assert.is(decisionEvents.length, byId.size, 'one event per decided authorization id');
    const eventIds = new Set(chain.map((e) => e.id));
    assert.is(eventIds.size, chain.length, 'no event linked twice');
    for (const o of byId.values()) assert.ok(eventIds.has(o.audit_event_id as string), `${o.authorization_id} event`);
    assert.equal(await store.listAuditOutbox(10), [], 'outbox empty');
    const sharedApproved = approved.filter((o) => o.authorization_id.startsWith('pa_shared_')).length;
    console.log(
      `\ntwo processes: ${all.length} requests (${SHARED} shared), ${approved.length} approved ` +
        `(${sharedApproved} shared), spent ${spent}/${LIMITS.daily}, ${chain.length} audit events, ${Math.round(elapsed)} ms`,
    );
  } finally {
    await engine.close();
    await inspector
      .db(dbName)
      .dropDatabase()
      .catch(() => {});
    await inspector.close();
  }
});

race('one process’s clock 60 s ahead: zero overspend, no ALLOW without a live hold', async () => {
  const { uri } = await testMongoServer();
  for (const leaseMs of [undefined, 2]) {
    const f = await runSkewedRace({ uri, perProcess: 100, shared: 60, skewMs: 60_000, leaseMs });
    console.log(`\nskewed clock (lease ${leaseMs ?? 'default'} ms): ${JSON.stringify(f)}`);
    assert.is(f.overspend_count, 0, 'overspend');
    assert.is(f.allow_without_hold, 0, 'ALLOW without a live hold');
    assert.is(f.allow_not_stored, 0, 'an answered ALLOW that is not the stored decision');
    assert.is(f.split_decisions, 0, 'both processes answer one decision per id');
    assert.is(f.orphan_holds, 0, 'a hold no stored ALLOW owns');
    assert.is(f.ledger_mismatch, 0, 'usage = the stored approvals');
    assert.is(f.decisions.PENDING ?? 0, 0, 'every id decided');
    assert.ok((f.decisions.ALLOW ?? 0) > 0 && (f.decisions.DENY ?? 0) > 0, 'the limit was contested');
  }
});

race.run();
