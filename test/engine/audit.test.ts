import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { AuditChainer, type AuditEvent, auditHash, GENESIS_HASH } from '../../src/audit/index.js';
import { verifyJws } from '../../src/crypto/index.js';
import type { StorageAdapter } from '../../src/storage/index.js';
import { ID_PREFIX, newSequentialId } from '../../src/util/ids.js';
import { makeFixture } from '../support/engine-fixture.js';

const audit = suite('audit trail of the engine');

async function chainOf(store: StorageAdapter, orgId: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await store.listAuditEvents(orgId, { after_seq: after, limit: 1000 });
    if (page.length === 0) return out;
    out.push(...page);
    after = (page[page.length - 1] as AuditEvent).seq;
  }
}

/** Recomputes every link independently of the verifier under test elsewhere. */
function assertIntact(events: AuditEvent[]): void {
  let prev = GENESIS_HASH;
  events.forEach((e, i) => {
    assert.is(e.seq, i + 1, `seq ${i + 1}`);
    assert.is(e.prev_hash, prev, `prev_hash of ${e.seq}`);
    assert.is(auditHash(e), e.hash, `hash of ${e.seq}`);
    prev = e.hash;
  });
}

audit('every state change and decision becomes one event, in order, with its actor', async () => {
  const f = await makeFixture();
  const e = f.engine;
  const agent2 = await e.createAgent(f.org.id, { name: 'second' }, 'ek_alice');
  await e.updateAgent(f.org.id, agent2.id, { description: 'changed' }, 'ek_alice');
  await e.updateAgent(f.org.id, agent2.id, { status: 'paused' }, 'ek_alice');
  await e.updateAgent(f.org.id, agent2.id, { status: 'active' }, 'ek_alice');
  await e.updateAuthority(f.org.id, f.authority.id, { step_up_above: 40_000 }, undefined, 'ek_bob');
  const approved = await e.authorize(f.processor.id, f.request({ amount: 1_000 }), 'pk_proc');
  const declined = await e.authorize(f.processor.id, f.request({ amount: 60_000 }), 'pk_proc');
  const stepUp = await e.authorize(f.processor.id, f.request({ amount: 45_000 }), 'pk_proc');
  await e.capture(f.processor.id, approved.authorization_id, { amount: 600 }, 'pk_proc');
  const toReverse = await e.authorize(f.processor.id, f.request({ amount: 700 }), 'pk_proc');
  await e.reverse(f.processor.id, toReverse.authorization_id, 'pk_proc');
  const toExpire = await e.authorize(f.processor.id, f.request({ amount: 800 }), 'pk_proc');
  const sim = await e.simulate(
    f.org.id,
    { ...f.request({ amount: 900 }), processor_id: f.processor.id },
    undefined,
    'ek_alice',
  );
  const intent = await e.validateIntent(
    f.org.id,
    {
      agent_id: f.agent.id,
      description: 'laptop',
      max_amount: 5_000,
      currency: 'USD',
      merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'US' },
      expires_at: '2026-11-24T10:00:00Z',
    },
    'ek_alice',
  );
  await e.cancelIntent(f.org.id, intent.intent.id, 'ek_alice');
  await e.suspendBinding(f.org.id, f.binding.id, 'ek_alice');
  await e.resumeBinding(f.org.id, f.binding.id, 'ek_alice');
  f.clock.advance(8 * 24 * 3600 * 1000);
  assert.is(await e.expireHolds(), 1);
  await e.revokeAgent(f.org.id, f.agent.id, 'ek_alice');
  await e.revokeAuthority(f.org.id, f.authority.id, 'ek_alice');

  // Repeats and reads change nothing, so they record nothing.
  await e.authorize(f.processor.id, f.request({ authorization_id: approved.authorization_id, amount: 1_000 }));
  await e.getAgent(f.org.id, agent2.id);

  await e.audit.chainer.drain();
  const events = await chainOf(f.store, f.org.id);
  assertIntact(events);
  assert.equal(
    events.map((x) => x.type),
    [
      'org.created',
      'agent.created',
      'authority.created',
      'binding.created',
      'agent.created',
      'agent.updated',
      'agent.paused',
      'agent.resumed',
      'authority.updated',
      'authorization.approved',
      'authorization.declined',
      'authorization.step_up',
      'approval.requested',
      'authorization.captured',
      'authorization.approved',
      'authorization.reversed',
      'authorization.approved',
      'simulation.authorization',
      'intent.approved',
      'intent.cancelled',
      'binding.suspended',
      'binding.resumed',
      'authorization.expired',
      'agent.revoked',
      'binding.suspended',
      'authority.revoked',
    ],
  );
  const byId = new Map(events.map((x) => [x.id, x]));
  for (const d of [approved, declined, stepUp, toReverse, toExpire]) {
    const ev = byId.get(d.audit_event_id as string);
    assert.ok(ev, `decision ${d.decision_id} names its event`);
    assert.equal(ev?.payload.decision, d, 'the event carries the decision as returned');
    assert.is(ev?.actor, 'pk_proc');
    assert.is(ev?.agent_id, f.agent.id);
    assert.ok(verifyJws(d.proof, e.jwks()).ok, 'audit_event_id is inside the signed proof');
  }
  const simEvent = byId.get(sim.audit_event_id as string);
  assert.is(simEvent?.type, 'simulation.authorization');
  assert.is((simEvent?.payload.decision as { simulated?: boolean } | undefined)?.simulated, true);
  const expired = events.find((x) => x.type === 'authorization.expired');
  assert.is(expired?.actor, 'system');
  assert.is(expired?.subject.id, `${f.processor.id}/${toExpire.authorization_id}`);
  const captured = events.find((x) => x.type === 'authorization.captured');
  assert.equal(
    [captured?.payload.captured_amount, captured?.payload.released_amount, captured?.actor],
    [600, 400, 'pk_proc'],
  );
  const binding = events.find((x) => x.type === 'binding.created');
  assert.not.ok(JSON.stringify(binding).includes(f.request().credential_reference as string), 'no raw reference');
  assert.is(events.filter((x) => x.actor === 'ek_alice').length > 10, true);
  assert.equal(await f.store.listAuditOutbox(100), [], 'nothing left in the outbox');
});

audit('a failed change records nothing', async () => {
  const f = await makeFixture();
  await f.engine.audit.chainer.drain();
  const before = (await chainOf(f.store, f.org.id)).length;
  await f.engine.revokeAgent(f.org.id, f.agent.id);
  await f.engine.audit.chainer.drain();
  const afterRevoke = (await chainOf(f.store, f.org.id)).length;
  await f.engine.updateAgent(f.org.id, f.agent.id, { description: 'x' }).catch(() => undefined);
  await f.engine.createAuthority(f.org.id, { agent_id: f.agent.id, currency: 'USD', limits: {} }).catch(() => 0);
  await f.engine.revokeAgent(f.org.id, f.agent.id);
  await f.engine.audit.chainer.drain();
  assert.is(afterRevoke, before + 2, 'revoke: agent.revoked + binding.suspended');
  assert.is((await chainOf(f.store, f.org.id)).length, afterRevoke, 'refused or repeated changes add nothing');
});

audit(
  'drafts survive a restart of the chainer, and a crash between link and acknowledge links nothing twice',
  async () => {
    const f = await makeFixture();
    for (let i = 0; i < 20; i++) await f.engine.authorize(f.processor.id, f.request({ amount: 100 }));
    // The server that wrote them never linked them: a new chainer (a restarted server) does.
    let failAck = true;
    const flaky: StorageAdapter = Object.create(f.store);
    flaky.ackAuditOutbox = async (drafts) => {
      if (failAck) {
        failAck = false;
        throw new Error('crash before acknowledge');
      }
      return f.store.ackAuditOutbox(drafts);
    };
    const first = new AuditChainer({ store: flaky });
    await first.runOnce().catch(() => undefined);
    const afterCrash = await chainOf(f.store, f.org.id);
    assert.is(afterCrash.length, 24, 'linked before the crash');
    assert.is((await f.store.listAuditOutbox(100)).length, 24, 'still in the outbox');
    const second = new AuditChainer({ store: f.store });
    assert.is(await second.drain(), 0, 'recognized as linked, only acknowledged');
    const events = await chainOf(f.store, f.org.id);
    assertIntact(events);
    assert.is(events.length, 24);
    assert.is(new Set(events.map((x) => x.id)).size, 24);
    assert.equal(await f.store.listAuditOutbox(100), []);
  },
);

audit('several chainers on one store build one chain with every event once', async () => {
  const f = await makeFixture();
  const chainers = [0, 1, 2, 3].map(() => new AuditChainer({ store: f.store, batchSize: 7 }));
  const writes = Array.from({ length: 200 }, (_, i) =>
    f.engine.authorize(f.processor.id, f.request({ amount: 10 + i })),
  );
  const linking = (async () => {
    for (let round = 0; round < 50; round++) await Promise.all(chainers.map((c) => c.runOnce()));
  })();
  await Promise.all([...writes, linking]);
  await Promise.all(chainers.map((c) => c.drain()));
  const events = await chainOf(f.store, f.org.id);
  assertIntact(events);
  assert.is(events.length, 204);
  assert.is(new Set(events.map((x) => x.id)).size, 204);
});

audit('chains are per org', async () => {
  const store = new MemoryAdapter();
  const a = await makeFixture({ store });
  const b = await makeFixture({ store });
  await a.engine.authorize(a.processor.id, a.request());
  await a.engine.audit.chainer.drain();
  const ea = await chainOf(store, a.org.id);
  const eb = await chainOf(store, b.org.id);
  assertIntact(ea);
  assertIntact(eb);
  assert.is(ea.length, 5);
  assert.is(eb.length, 4);
  assert.ok(ea.every((x) => x.org_id === a.org.id) && eb.every((x) => x.org_id === b.org.id));
});

audit('audit off: no drafts, no event ids', async () => {
  const f = await makeFixture({ audit: { enabled: false } });
  const d = await f.engine.authorize(f.processor.id, f.request());
  assert.is(d.audit_event_id, null);
  assert.equal(await f.store.listAuditOutbox(10), []);
});

audit('a decision for an unknown binding has no org trail to go to', async () => {
  const f = await makeFixture();
  const d = await f.engine.authorize(f.processor.id, f.request({ credential_reference: 'tok_unknown' }));
  assert.equal(d.reason_codes, ['binding_not_found']);
  assert.is(d.audit_event_id, null);
});

audit('a decision draws one audit event id, the one it names', async () => {
  const f = await makeFixture({ now: '2099-01-01T00:00:00.000Z' });
  const at = f.clock.now();
  const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
  // The 4-character counter that orders the ids this process draws within one millisecond.
  const counter = (id: string) =>
    [...id.slice(ID_PREFIX.auditEvent.length + 11, ID_PREFIX.auditEvent.length + 15)].reduce(
      (n, c) => n * 32 + ALPHABET.indexOf(c),
      0,
    );
  const before = newSequentialId(ID_PREFIX.auditEvent, at);
  const d = await f.engine.authorize(f.processor.id, f.request());
  const after = newSequentialId(ID_PREFIX.auditEvent, at);
  assert.is(d.action, 'ALLOW');
  assert.is(counter(d.audit_event_id as string), counter(before) + 1);
  assert.is(counter(after), counter(before) + 2, 'no other id drawn');
  await f.engine.audit.chainer.drain();
  const events = await chainOf(f.store, f.org.id);
  assert.is(events.find((e) => e.type === 'authorization.approved')?.id, d.audit_event_id);
});

audit.run();
