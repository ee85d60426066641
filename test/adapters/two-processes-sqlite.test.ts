import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { type AuditEvent, auditHash, GENESIS_HASH } from '../../src/audit/index.js';
import { createEngine } from '../../src/engine/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { startWorker } from '../support/race-process.js';
import type { RaceOutcome } from '../support/race-worker.js';

const NOW = '2026-11-23T10:00:00.000Z';
const PER_PROCESS = 150;
const SHARED = 50;
const LIMITS = { per_transaction: null, daily: 123_457, weekly: 150_000, monthly: 1_000_000, total: 5_000_000 };
const VELOCITY = { daily: 70 };

const race = suite('two engine processes on one SQLite file');

race('no overspend, one decision and one reservation per authorization id, one audit chain', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'allowance-race-'));
  const path = join(dir, 'allowance.db');
  const store = new SqliteAdapter({ path, busyTimeoutMs: 30_000 });
  const engine = createEngine({ store, clock: new ManualClock(NOW), policy: await defaultPolicy() });
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
    const reference = 'tok_race_sqlite';
    await engine.createBinding(org.id, {
      agent_id: agent.id,
      authority_id: authority.id,
      processor_id: processor.id,
      credential: { type: 'network_token', reference, last4: '4242' },
    });

    const env = {
      RACE_SQLITE: path,
      RACE_PROCESSOR: processor.id,
      RACE_REFERENCE: reference,
      RACE_NOW: NOW,
      RACE_SHARED: String(SHARED),
      RACE_OWN: String(PER_PROCESS - SHARED),
    };
    const workers = [startWorker('w1', env), startWorker('w2', env)];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const [one, two] = (await Promise.all(workers.map((w) => w.result))) as [RaceOutcome[], RaceOutcome[]];

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
    // The file read directly: one live hold per approval, each owned by an approved record.
    const direct = new Database(path, { readonly: true });
    try {
      const holds = new Set(
        (
          direct
            .prepare('SELECT reservation_id FROM usage_holds WHERE org_id = ? AND authority_id = ? AND held = 1')
            .all(org.id, authority.id) as { reservation_id: string }[]
        ).map((h) => h.reservation_id),
      );
      assert.is(holds.size, approved.length, 'one hold per approval');
      const records = (
        direct.prepare("SELECT doc FROM authorizations WHERE status = 'approved'").all() as { doc: string }[]
      ).map((r) => JSON.parse(r.doc) as { reservation_id: string; authorization_id: string });
      assert.is(records.length, approved.length);
      for (const r of records) assert.ok(holds.has(r.reservation_id), `${r.authorization_id} holds no reservation`);
    } finally {
      direct.close();
    }
    for (const o of approved) {
      const rec = await engine.getAuthorization(processor.id, o.authorization_id);
      assert.is(rec.status, 'approved');
      assert.is(rec.decision_id, o.decision_id);
    }
    // One unbroken audit chain, linked by both processes at once; every decision in it exactly once.
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
    console.log(
      `\ntwo processes on SQLite: ${all.length} requests (${SHARED} shared), ${approved.length} approved, ` +
        `spent ${spent}/${LIMITS.daily}, ${chain.length} audit events`,
    );
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

race.run();
