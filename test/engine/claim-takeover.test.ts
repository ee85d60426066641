import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { isAppError } from '../../src/errors/index.js';
import type { StorageAdapter } from '../../src/storage/index.js';
import type { Decision } from '../../src/types.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { claimedRequest, defaultPolicy, type Fixture, makeFixture } from '../support/engine-fixture.js';
import { mongoTarget } from '../support/mongo-target.js';
import { pausingStore } from '../support/pausing-store.js';

/** Short, so that a taker sees a stalled claim unchanged for the whole lease within the test. */
const LEASE_MS = 40;

interface Backend {
  store: StorageAdapter;
  /** Reservation ids holding spend on the authority, read from the backing store. */
  holds(orgId: string, authorityId: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

const BACKENDS: Record<string, () => Promise<Backend>> = {
  memory: async () => {
    const inner = new MemoryAdapter();
    return {
      store: inner,
      holds: async (orgId, authorityId) => inner.inspectUsage(orgId, authorityId).holds,
      cleanup: async () => {},
    };
  },
  mongodb: async () => {
    const t = await mongoTarget();
    const { inspect, cleanup } = t;
    if (!inspect || !cleanup) throw new Error('the MongoDB target has an inspector and a cleanup');
    return {
      store: t.adapter,
      holds: async (orgId, authorityId) => (await inspect.usage(orgId, authorityId)).holds,
      cleanup: () => cleanup.call(t),
    };
  },
};

/** Two servers on one store: a holder whose calls the test can stall, and a taker. */
async function twoServers(backend: Backend, config: { claimLeaseMs: number; duplicateWaitMs: number }) {
  const holder = pausingStore(backend.store);
  const takerStore = pausingStore(backend.store);
  const f = await makeFixture({ store: holder.store, config });
  const taker: Engine = createEngine({
    store: takerStore.store,
    clock: f.clock,
    policy: await defaultPolicy(),
    config,
  });
  await taker.init();
  return { f, holder, takerStore, taker };
}

/** Zero overspend and no ALLOW without a live hold: usage is exactly the stored approval, held by its record. */
async function assertLedgerMatches(backend: Backend, f: Fixture, authorizationId: string): Promise<void> {
  const rec = await backend.store.getAuthorization(f.processor.id, authorizationId);
  assert.ok(rec, 'the authorization is stored');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  const holds = await backend.holds(f.org.id, f.authority.id);
  if (rec.status === 'approved') {
    assert.is(usage.windows.daily.spent, rec.approved_amount, 'spent = the stored approval');
    assert.is(usage.windows.daily.count, 1);
    assert.equal(holds, [rec.reservation_id], 'the stored ALLOW holds its reservation, and only it');
  } else {
    assert.is(usage.windows.daily.spent, 0, 'nothing spent without a stored approval');
    assert.is(usage.windows.daily.count, 0);
    assert.equal(holds, []);
  }
}

/** What the stalled attempt returned: the winner's decision or an error, never its own ALLOW. */
async function lateOutcome(p: Promise<Decision>): Promise<Decision | string> {
  try {
    return await p;
  } catch (err) {
    if (isAppError(err)) return err.code;
    throw err;
  }
}

for (const [name, make] of Object.entries(BACKENDS)) {
  const s = suite(`authorize: claim take-over of a stalled holder [${name}]`);

  s('the taker gives the hold back before the stalled reserve arrives: the late reserve holds nothing', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: LEASE_MS, duplicateWaitMs: 10_000 });
      const req = await claimedRequest(f, 7000);
      const reserve = holder.pauseNext('reserveUsage');
      const finalWrite = holder.pauseNext('updateAuthorization');
      const stalled = f.engine.authorize(f.processor.id, req);
      await reserve.reached;
      // Past the holder's lease by any wall clock too.
      f.clock.advance(60_000);
      const won = await taker.authorize(f.processor.id, req);
      assert.is(won.action, 'ALLOW');
      assert.is(won.approved_amount, 7000);
      reserve.resume();
      // The holder reserved (or tried to) and is about to store its decision; should it die right here,
      // nothing it did may stay held.
      await finalWrite.reached;
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      finalWrite.resume();
      const late = await lateOutcome(stalled);
      assert.equal(late, won, 'the stalled attempt returns the winner’s decision');
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      assert.equal(await f.engine.authorize(f.processor.id, req), won);
    } finally {
      await backend.cleanup();
    }
  });

  s('the taker gives the hold back after the stalled reserve: the stalled final write is refused', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: LEASE_MS, duplicateWaitMs: 10_000 });
      const req = await claimedRequest(f, 7000);
      const finalWrite = holder.pauseNext('updateAuthorization');
      const stalled = f.engine.authorize(f.processor.id, req);
      await finalWrite.reached;
      f.clock.advance(60_000);
      const won = await taker.authorize(f.processor.id, req);
      assert.is(won.action, 'ALLOW');
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      finalWrite.resume();
      const late = await lateOutcome(stalled);
      assert.equal(late, won, 'the stalled attempt returns the winner’s decision');
      const rec = await backend.store.getAuthorization(f.processor.id, req.authorization_id as string);
      assert.is(rec?.attempt, 2);
      assert.is(rec?.decision?.decision_id, won.decision_id);
      await assertLedgerMatches(backend, f, req.authorization_id as string);
    } finally {
      await backend.cleanup();
    }
  });

  s('a holder that stores its decision before the take-over compare-and-set keeps its hold', async () => {
    const backend = await make();
    try {
      const { f, holder, takerStore, taker } = await twoServers(backend, {
        claimLeaseMs: LEASE_MS,
        duplicateWaitMs: 10_000,
      });
      const req = await claimedRequest(f, 7000);
      const finalWrite = holder.pauseNext('updateAuthorization');
      const takeOver = takerStore.pauseNext('updateAuthorization');
      const stalled = f.engine.authorize(f.processor.id, req);
      await finalWrite.reached;
      f.clock.advance(60_000);
      const second = taker.authorize(f.processor.id, req);
      // The taker saw the lease run out and is about to take over; the holder finishes first.
      await takeOver.reached;
      finalWrite.resume();
      const first = await stalled;
      assert.is(first.action, 'ALLOW');
      takeOver.resume();
      assert.equal(await second, first, 'the taker lost and returns the stored decision');
      const rec = await backend.store.getAuthorization(f.processor.id, req.authorization_id as string);
      assert.is(rec?.attempt, 1);
      await assertLedgerMatches(backend, f, req.authorization_id as string);
    } finally {
      await backend.cleanup();
    }
  });

  s('the taker gives an intent consumption back before the stalled consume arrives: it applies nothing', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: LEASE_MS, duplicateWaitMs: 10_000 });
      const { intent } = await f.engine.validateIntent(f.org.id, {
        agent_id: f.agent.id,
        description: 'Two keyboards at most',
        max_amount: 20_000,
        currency: 'USD',
        merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'US' },
        expires_at: '2026-11-24T10:00:00Z',
        single_use: false,
      });
      const req = f.request({ amount: 7000, intent_id: intent.id });
      const consume = holder.pauseNext('consumeIntent');
      const finalWrite = holder.pauseNext('updateAuthorization');
      const stalled = f.engine.authorize(f.processor.id, req);
      await consume.reached;
      f.clock.advance(60_000);
      const won = await taker.authorize(f.processor.id, req);
      assert.is(won.action, 'ALLOW');
      assert.is(won.intent_id, intent.id);
      consume.resume();
      await finalWrite.reached;
      assert.is((await f.engine.getIntent(f.org.id, intent.id)).consumed_amount, 7000, 'consumed once');
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      finalWrite.resume();
      assert.equal(await lateOutcome(stalled), won, 'the stalled attempt returns the winner’s decision');
      assert.is((await f.engine.getIntent(f.org.id, intent.id)).consumed_amount, 7000);
      await assertLedgerMatches(backend, f, req.authorization_id as string);
    } finally {
      await backend.cleanup();
    }
  });

  s('a holder stalled after using an approval: the taker gives the use back, uses it again, one event', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: LEASE_MS, duplicateWaitMs: 10_000 });
      await f.engine.updateAuthority(f.org.id, f.authority.id, { step_up_above: 5_000 });
      const stepped = await f.engine.authorize(f.processor.id, f.request({ amount: 7000 }));
      const approvalId = stepped.approval_id as string;
      await f.engine.approveApproval(f.org.id, approvalId);
      const req = f.request({ amount: 7000, approval_id: approvalId });
      // The holder's first update is the approval's compare-and-set, its second the final write.
      const use = holder.pauseNext('updateAuthorization');
      const stalled = f.engine.authorize(f.processor.id, req);
      await use.reached;
      const finalWrite = holder.pauseNext('updateAuthorization');
      use.resume();
      await finalWrite.reached;
      f.clock.advance(60_000);
      const won = await taker.authorize(f.processor.id, req);
      assert.equal([won.action, won.reason_codes, won.approval_id], ['ALLOW', ['human_approved'], approvalId]);
      finalWrite.resume();
      assert.equal(await lateOutcome(stalled), won, 'the stalled attempt returns the winner’s decision');
      const approval = await f.engine.getApproval(f.org.id, approvalId);
      assert.is(approval.status, 'used');
      assert.equal(approval.used_by, { processor_id: f.processor.id, authorization_id: req.authorization_id });
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      await f.engine.audit.chainer.drain();
      await taker.audit.chainer.drain();
      const used = await backend.store.listAuditEvents(f.org.id, { limit: 100, type: 'approval.used' });
      assert.is(used.length, 1, 'only the stored decision announces the use');
      assert.is(used[0]?.payload.decision_id, won.decision_id);
    } finally {
      await backend.cleanup();
    }
  });

  s('a lease is judged by how long this server saw the claim unchanged, not by any wall clock', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: 60_000, duplicateWaitMs: 50 });
      const req = await claimedRequest(f, 7000);
      const finalWrite = holder.pauseNext('updateAuthorization');
      const stalled = f.engine.authorize(f.processor.id, req);
      await finalWrite.reached;
      // The taker's clock is ten minutes past the holder's lease end: still no take-over.
      f.clock.advance(600_000);
      await rejectsWithCode(taker.authorize(f.processor.id, req), 'idempotency_in_progress');
      finalWrite.resume();
      const d = await stalled;
      assert.is(d.action, 'ALLOW');
      assert.equal(await taker.authorize(f.processor.id, req), d);
      await assertLedgerMatches(backend, f, req.authorization_id as string);
    } finally {
      await backend.cleanup();
    }
  });

  s.run();

  const plain = suite(`authorize: a plain request reserves, then records its decision [${name}]`);

  plain('two duplicates at once: the one whose reserve finds the id applied claims, one hold in the end', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: 60_000, duplicateWaitMs: 10_000 });
      const req = f.request({ amount: 7000 });
      // The first duplicate has reserved and is about to insert its approval.
      const insert = holder.pauseNext('claimAuthorization');
      const first = f.engine.authorize(f.processor.id, req);
      await insert.reached;
      assert.is((await f.engine.getAuthorityUsage(f.org.id, f.authority.id)).windows.daily.spent, 7000);
      // The second finds the id applied, with an amount it cannot know: it claims, gives that hold back and
      // holds under its claim.
      const second = await taker.authorize(f.processor.id, req);
      assert.is(second.action, 'ALLOW');
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      insert.resume();
      assert.equal(await first, second, 'the first loses its insert and returns the stored decision');
      await assertLedgerMatches(backend, f, req.authorization_id as string);
    } finally {
      await backend.cleanup();
    }
  });

  plain('a duplicate whose reserve comes after the stored approval holds nothing more', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: 60_000, duplicateWaitMs: 10_000 });
      const req = f.request({ amount: 7000 });
      const reserve = holder.pauseNext('reserveUsage');
      const late = f.engine.authorize(f.processor.id, req);
      await reserve.reached;
      const stored = await taker.authorize(f.processor.id, req);
      assert.is(stored.action, 'ALLOW');
      reserve.resume();
      assert.equal(await late, stored);
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      const rec = await backend.store.getAuthorization(f.processor.id, req.authorization_id as string);
      assert.is(rec?.attempt, 1);
    } finally {
      await backend.cleanup();
    }
  });

  plain('an attempt that failed after its reserve, then a retry: one hold, under the retry’s claim', async () => {
    const backend = await make();
    try {
      const { f, holder } = await twoServers(backend, { claimLeaseMs: 60_000, duplicateWaitMs: 10_000 });
      const req = f.request({ amount: 7000 });
      const insert = holder.pauseNext('claimAuthorization');
      const failed = f.engine.authorize(f.processor.id, req);
      await insert.reached;
      // The attempt's process is gone: its reserve landed, its record never will. The paused call is left
      // unresumed, as a crash leaves it.
      const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
      assert.is(usage.windows.daily.spent, 7000, 'the hold without a record');
      const retry = createEngine({ store: backend.store, clock: f.clock, policy: await defaultPolicy() });
      await retry.init();
      const d = await retry.authorize(f.processor.id, req);
      assert.is(d.action, 'ALLOW');
      assert.is(d.approved_amount, 7000);
      await assertLedgerMatches(backend, f, req.authorization_id as string);
      assert.equal(await retry.authorize(f.processor.id, req), d);
      void failed.catch(() => {});
    } finally {
      await backend.cleanup();
    }
  });

  plain(
    'an attempt that failed after its reserve, then a declined retry: the decline gives the hold back',
    async () => {
      const backend = await make();
      try {
        const { f, holder } = await twoServers(backend, { claimLeaseMs: 60_000, duplicateWaitMs: 10_000 });
        const req = f.request({ amount: 7000 });
        const insert = holder.pauseNext('claimAuthorization');
        const failed = f.engine.authorize(f.processor.id, req);
        await insert.reached;
        // The attempt's process is gone after its reserve; before the retry the binding is suspended.
        const retry = createEngine({ store: backend.store, clock: f.clock, policy: await defaultPolicy() });
        await retry.init();
        await retry.suspendBinding(f.org.id, f.binding.id);
        const d = await retry.authorize(f.processor.id, req);
        assert.is(d.action, 'DENY');
        await assertLedgerMatches(backend, f, req.authorization_id as string);
        void failed.catch(() => {});
      } finally {
        await backend.cleanup();
      }
    },
  );

  plain('the loser of the insert against a declined record gives its hold back', async () => {
    const backend = await make();
    try {
      const { f, holder, taker } = await twoServers(backend, { claimLeaseMs: 60_000, duplicateWaitMs: 10_000 });
      const req = f.request({ amount: 7000 });
      const insert = holder.pauseNext('claimAuthorization');
      const first = f.engine.authorize(f.processor.id, req);
      await insert.reached;
      // Meanwhile the binding is suspended: a duplicate is declined and its record inserted first.
      await taker.suspendBinding(f.org.id, f.binding.id);
      const declined = await taker.authorize(f.processor.id, req);
      assert.is(declined.action, 'DENY');
      insert.resume();
      assert.equal(await first, declined, 'the loser returns the stored decline');
      await assertLedgerMatches(backend, f, req.authorization_id as string);
    } finally {
      await backend.cleanup();
    }
  });

  plain.run();
}
