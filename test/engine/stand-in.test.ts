import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyJws } from '../../src/crypto/index.js';
import { canonicalRequest, parseAuthorizeRequest } from '../../src/engine/authorize-request.js';
import { createEngine } from '../../src/engine/index.js';
import { type StorageAdapter, StorageError } from '../../src/storage/index.js';
import type { Decision } from '../../src/types.js';
import { isoTime } from '../../src/util/clock.js';
import { sha256Hex } from '../../src/util/hash.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { claimedRequest, defaultPolicy, type Fixture, makeFixture } from '../support/engine-fixture.js';
import { faultyStore } from '../support/faulty-store.js';

const standIn = suite('authorize: deadline and stand-in processing');

const DEADLINE_MS = 150;

type Faults = ReturnType<typeof faultyStore>;

/** A gate holding store calls until `open()`; `held` counts the calls waiting at it. */
function gate() {
  let release: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { held: 0, inflight: [] as Promise<unknown>[], opened, open: () => release() };
}

/** Every store method hangs at the gate (as a frozen database does) until it opens. */
function freeze(faults: Faults, g: ReturnType<typeof gate>, methods: (keyof StorageAdapter)[]): void {
  for (const m of methods) {
    faults.wrap(m, (original, ...args) => {
      g.held++;
      const call = g.opened.then(() => original(...args));
      g.inflight.push(call.catch(() => {}));
      return call;
    });
  }
}

function thaw(faults: Faults, methods: (keyof StorageAdapter)[]): void {
  for (const m of methods) faults.wrap(m, null);
}

const ALL: (keyof StorageAdapter)[] = [
  'getProcessor',
  'findBinding',
  'getAgent',
  'getAuthority',
  'getIntent',
  'getUsage',
  'claimAuthorization',
  'getAuthorization',
  'updateAuthorization',
  'reserveUsage',
  'releaseUsage',
  'consumeIntent',
  'releaseIntent',
];

async function standInFixture(
  authority: Record<string, unknown> = { stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 } },
): Promise<{ f: Fixture; faults: Faults; dir: string }> {
  const faults = faultyStore();
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const f = await makeFixture({
    store: faults.store,
    authority,
    config: { authorizeDeadlineMs: DEADLINE_MS, standInSpoolDir: dir, claimLeaseMs: 2 * DEADLINE_MS },
    leasesOnClock: true,
  });
  return { f, faults, dir };
}

/** Stores a pending claim of `body`'s authorization id, as another attempt (here or on another server) left it. */
async function pendingClaim(
  f: Fixture,
  body: Record<string, unknown>,
  reservationId: string,
  leaseMs: number,
): Promise<void> {
  const now = f.clock.now();
  await f.store.claimAuthorization({
    processor_id: f.processor.id,
    authorization_id: body.authorization_id as string,
    org_id: f.org.id,
    status: 'pending',
    request_sha256: sha256Hex(canonicalRequest(parseAuthorizeRequest(body))),
    reservation_id: reservationId,
    attempt: 1,
    lease_until: isoTime(now + leaseMs),
    authority_id: f.authority.id,
    intent_id: null,
    agent_id: f.agent.id,
    amount: body.amount as number,
    approved_amount: 0,
    captured_amount: 0,
    currency: 'USD',
    hold_open: false,
    hold_expires_at: null,
    decision: null,
    policy_input: null,
    version: 0,
    created_at: isoTime(now),
    updated_at: isoTime(now),
  });
}

function payloadOf(d: Decision, f: Fixture): Record<string, unknown> {
  const v = verifyJws(d.proof, f.engine.jwks());
  assert.ok(v.ok, 'the proof verifies against the JWKS');
  return (v as { payload: Record<string, unknown> }).payload;
}

standIn('a frozen store gets a signed stand-in ALLOW before its calls return, spooled on disk', async () => {
  const { f, faults, dir } = await standInFixture();
  const warm = await f.engine.authorize(f.processor.id, f.request());
  assert.is(warm.stand_in, false, 'an ordinary decision says stand_in: false');
  assert.is(payloadOf(warm, f).stand_in, false, 'inside the proof too');
  const g = gate();
  freeze(faults, g, ALL);
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 4000 }));
  assert.ok(g.held > 0, 'the attempt reached the store');
  assert.is(d.stand_in, true);
  assert.is(d.action, 'ALLOW');
  assert.is(d.approved_amount, 4000);
  assert.equal(d.reason_codes, ['stand_in_store_unavailable']);
  assert.is(d.authority_id, f.authority.id);
  assert.is(d.org_id, f.org.id);
  const p = payloadOf(d, f);
  assert.is(p.stand_in, true);
  assert.is(p.decision_id, d.decision_id);
  assert.equal(Object.keys(p), [...Object.keys(p)].sort(), 'decision fields in ascending key order');
  assert.is(f.engine.standIn?.pending(), 1);
  const spooled = await readFile(join(dir, 'stand-in.jsonl'), 'utf8');
  assert.ok(spooled.includes(d.decision_id), 'the decision is in the spool file before it is answered');
  assert.not.ok(spooled.includes(f.binding.credential.reference), 'no credential reference in the spool');
  g.open();
  thaw(faults, ALL);
});

standIn('a credential never seen, or an authority whose stand-in is DENY, gets a stand-in DENY', async () => {
  const cold = await standInFixture();
  const g = gate();
  freeze(cold.faults, g, ALL);
  const unknown = await cold.f.engine.authorize(cold.f.processor.id, cold.f.request());
  assert.is(unknown.action, 'DENY');
  assert.is(unknown.stand_in, true);
  assert.equal(unknown.reason_codes, ['stand_in_store_unavailable']);
  assert.is(unknown.org_id, null);
  g.open();

  const deny = await standInFixture({});
  assert.equal(deny.f.authority.stand_in, { action: 'DENY', max_amount: null }, 'DENY is the default');
  await deny.f.engine.authorize(deny.f.processor.id, deny.f.request());
  const g2 = gate();
  freeze(deny.faults, g2, ALL);
  const d = await deny.f.engine.authorize(deny.f.processor.id, deny.f.request({ amount: 1 }));
  assert.is(d.action, 'DENY');
  assert.is(d.stand_in, true);
  assert.is(d.authority_id, deny.f.authority.id);
  g2.open();
});

standIn('ALLOW_UP_TO: above max_amount is a DENY, or a partial approval of max_amount when both allow it', async () => {
  const { f, faults } = await standInFixture({
    stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 },
    partial_approval: true,
  });
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  freeze(faults, g, ALL);
  const over = await f.engine.authorize(f.processor.id, f.request({ amount: 5001 }));
  assert.is(over.action, 'DENY');
  const partial = await f.engine.authorize(
    f.processor.id,
    f.request({ amount: 9000, partial_approval_supported: true }),
  );
  assert.is(partial.action, 'ALLOW_WITH_LIMITS');
  assert.is(partial.approved_amount, 5000);
  assert.equal(partial.reason_codes, ['partially_approved', 'stand_in_store_unavailable']);
  const otherCurrency = await f.engine.authorize(f.processor.id, f.request({ amount: 100, currency: 'EUR' }));
  assert.is(otherCurrency.action, 'DENY', 'the engine checks still apply: currency');
  const withIntent = await f.engine.authorize(f.processor.id, f.request({ amount: 100, intent_id: 'int_x' }));
  assert.is(withIntent.action, 'DENY', 'an intent cannot be consumed without the store');
  g.open();
});

standIn('a paused authority known to the cache is a stand-in DENY', async () => {
  const { f, faults } = await standInFixture();
  await f.engine.updateAuthority(f.org.id, f.authority.id, { status: 'paused' });
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  freeze(faults, g, ALL);
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 10 }));
  assert.is(d.action, 'DENY');
  assert.is(d.stand_in, true);
  g.open();
});

standIn('pausing, revoking or suspending through the engine drops what the stand-in cache knew', async () => {
  for (const change of ['pause authority', 'pause agent', 'suspend binding'] as const) {
    const { f, faults } = await standInFixture();
    await f.engine.authorize(f.processor.id, f.request());
    if (change === 'pause authority') await f.engine.updateAuthority(f.org.id, f.authority.id, { status: 'paused' });
    if (change === 'pause agent') await f.engine.updateAgent(f.org.id, f.agent.id, { status: 'paused' });
    if (change === 'suspend binding') await f.engine.suspendBinding(f.org.id, f.binding.id);
    const g = gate();
    freeze(faults, g, ALL);
    const d = await f.engine.authorize(f.processor.id, f.request({ amount: 10 }));
    assert.is(d.action, 'DENY', change);
    assert.is(d.stand_in, true);
    g.open();
  }
});

standIn('an unavailable store is a stand-in at once; without a spool it is storage_unavailable', async () => {
  const { f, faults } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  // The first read of every authorize (the processor's status is cached after the first one).
  faults.wrap('getAuthorization', () => Promise.reject(new StorageError('unavailable', 'down')));
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 100 }));
  assert.is(d.stand_in, true);
  assert.is(d.action, 'ALLOW');

  const plain = faultyStore();
  const g = await makeFixture({ store: plain.store, config: { authorizeDeadlineMs: DEADLINE_MS } });
  assert.is(g.engine.standIn, null);
  const gt = gate();
  freeze(plain, gt, ALL);
  await rejectsWithCode(g.engine.authorize(g.processor.id, g.request()), 'storage_unavailable');
  gt.open();
});

standIn('other errors are not turned into stand-ins', async () => {
  const { f, faults } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  await rejectsWithCode(f.engine.authorize(f.processor.id, f.request({ amount: 1.5 })), 'validation_failed');
  faults.wrap('getAuthorization', () => Promise.reject(new StorageError('internal', 'bug')));
  await rejectsWithCode(f.engine.authorize(f.processor.id, f.request()), 'storage_internal');
  assert.is(f.engine.standIn?.pending(), 0);
});

standIn('a retry during the outage gets the same decision; another body is idempotency_mismatch', async () => {
  const { f, faults } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  freeze(faults, g, ALL);
  const req = f.request({ amount: 3000 });
  const first = await f.engine.authorize(f.processor.id, req);
  const held = g.held;
  const again = await f.engine.authorize(f.processor.id, { ...req });
  assert.equal(again, first);
  assert.is(g.held, held, 'answered from the spool, without the store');
  await rejectsWithCode(f.engine.authorize(f.processor.id, { ...req, amount: 3001 }), 'idempotency_mismatch');
  g.open();
});

standIn('draining writes record, hold (past the limit) and audit event exactly once', async () => {
  const { f, faults, dir } = await standInFixture({
    stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 },
    limits: { per_transaction: 50_000, daily: 6000, weekly: 300_000, monthly: 1_000_000, total: 5_000_000 },
  });
  await f.engine.authorize(f.processor.id, f.request({ amount: 4000 }));
  const g = gate();
  freeze(faults, g, ALL);
  const req = f.request({ amount: 4500 });
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.action, 'ALLOW');
  g.open();
  thaw(faults, ALL);

  assert.is(await f.engine.standIn?.drain(), 1);
  assert.is(f.engine.standIn?.pending(), 0);
  assert.is(await readFile(join(dir, 'stand-in.jsonl'), 'utf8'), '', 'a fully drained spool is compacted');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 8500, 'counted even though it is over the daily limit of 6000');
  assert.is(usage.windows.daily.count, 2);
  const rec = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.equal(rec?.decision, d);
  assert.is(rec?.status, 'approved');
  assert.is(rec?.approved_amount, 4500);

  assert.is(await f.engine.standIn?.drain(), 0, 'nothing left to drain');
  assert.equal(await f.engine.authorize(f.processor.id, { ...req }), d, 'a replay after the drain: the same decision');
  const after = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(after.windows.daily.spent, 8500);
  assert.is(after.windows.daily.count, 2);

  await f.engine.audit.chainer.drain();
  const events = await f.store.listAuditEvents(f.org.id, { limit: 1000, type: 'authorization.approved' });
  const mine = events.filter((e) => (e.payload.decision as Decision).decision_id === d.decision_id);
  assert.is(mine.length, 1);
  const event = mine[0] as (typeof mine)[number];
  assert.is(event.id, d.audit_event_id);
  assert.is((event.payload.decision as Decision).stand_in, true);

  // Capture works on the drained approval like on any other.
  await f.engine.capture(f.processor.id, req.authorization_id as string, { amount: 4500 });
});

standIn('a drain that fails midway, or a crash before its mark, never counts twice', async () => {
  const { f, faults, dir } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  freeze(faults, g, ALL);
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 2000 }));
  g.open();
  thaw(faults, ALL);
  const before = await readFile(join(dir, 'stand-in.jsonl'), 'utf8');
  assert.ok(before.includes(d.decision_id));

  faults.wrap('reserveUsage', () => Promise.reject(new StorageError('unavailable', 'down again')));
  await rejectsWithCode(f.engine.standIn?.drain() as Promise<number>, 'storage_unavailable');
  assert.is(f.engine.standIn?.pending(), 1, 'still spooled');
  faults.wrap('reserveUsage', null);
  assert.is(await f.engine.standIn?.drain(), 1);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 1850 + 2000);

  // A process that died after the store writes but before the drained mark: the spool as it was.
  const crashedDir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  await writeFile(join(crashedDir, 'stand-in.jsonl'), `${before}{"kind":"decision","torn`);
  const restarted = createEngine({
    store: faults.store,
    policy: await defaultPolicy(),
    clock: f.clock,
    config: { standInSpoolDir: crashedDir },
  });
  await restarted.init();
  assert.is(restarted.standIn?.pending(), 1, 'the undrained decision is back; the torn line is dropped');
  assert.is(await restarted.standIn?.drain(), 1);
  const again = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(again.windows.daily.spent, 1850 + 2000, 'the second drain changed nothing');
  assert.is(again.windows.daily.count, 2);
  await restarted.close();
});

standIn('a cut-off claimed attempt whose writes land late is replaced once its lease is over', async () => {
  const { f, faults } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  // The claim lands; the hold is stuck in flight past the deadline.
  freeze(faults, g, ['reserveUsage']);
  // Naming an intent, it decides through a pending claim (and its stand-in is a DENY).
  const req = await claimedRequest(f, 3000);
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.stand_in, true);
  assert.is(d.action, 'DENY');
  g.open();
  thaw(faults, ['reserveUsage']);
  await Promise.all(g.inflight); // the late hold lands
  const pending = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.is(pending?.status, 'pending');
  // Another stand-in, behind it in the spool, is not held up by it.
  const g2 = gate();
  freeze(faults, g2, ALL);
  const other = await f.engine.authorize(f.processor.id, f.request({ amount: 500 }));
  assert.is(other.stand_in, true);
  g2.open();
  thaw(faults, ALL);
  assert.is(await f.engine.standIn?.drain(), 1, 'a live lease is not taken over; the other one drains');
  assert.is(f.engine.standIn?.pending(), 1, 'left for a later pass');
  // Taken over only once this engine has seen the claim unchanged for the whole lease (its own elapsed
  // time, here the fixture's clock), never by comparing the holder's lease time with a clock.
  f.clock.advance(2 * DEADLINE_MS - 1);
  assert.is(await f.engine.standIn?.drain(), 0, 'not before the lease is over');
  f.clock.advance(1);
  assert.is(await f.engine.standIn?.drain(), 1);
  const rec = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.is(rec?.decision?.decision_id, d.decision_id);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 1850 + 500, 'the late hold was given back');
  assert.is(usage.windows.daily.count, 2);
});

standIn(
  'a plain cut-off attempt whose hold lands late: the drain stores the stand-in and gives that hold back',
  async () => {
    const { f, faults } = await standInFixture();
    await f.engine.authorize(f.processor.id, f.request());
    const g = gate();
    // The hold is stuck in flight past the deadline; the record, refused once the budget is over, never lands.
    freeze(faults, g, ['reserveUsage']);
    const req = f.request({ amount: 3000 });
    const d = await f.engine.authorize(f.processor.id, req);
    assert.is(d.stand_in, true);
    assert.is(d.approved_amount, 3000);
    g.open();
    thaw(faults, ['reserveUsage']);
    await Promise.all(g.inflight); // the late hold lands
    assert.is(await f.store.getAuthorization(f.processor.id, req.authorization_id as string), null);
    assert.is((await f.engine.getAuthorityUsage(f.org.id, f.authority.id)).windows.daily.spent, 1850 + 3000);
    assert.is(await f.engine.standIn?.drain(), 1, 'no claim to wait for');
    const rec = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
    assert.is(rec?.decision?.decision_id, d.decision_id);
    const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
    assert.is(usage.windows.daily.spent, 1850 + 3000, 'the late hold was given back, the stand-in counted once');
    assert.is(usage.windows.daily.count, 2);
    assert.equal(faults.inner.inspectUsage(f.org.id, f.authority.id).holds.length, 2);
  },
);

standIn('twins out of budget together get one stand-in between them', async () => {
  const { f, faults } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  freeze(faults, g, ALL);
  const req = f.request({ amount: 1200 });
  const [a, b] = await Promise.all([
    f.engine.authorize(f.processor.id, req),
    f.engine.authorize(f.processor.id, { ...req }),
  ]);
  assert.equal(b, a);
  assert.is(a.stand_in, true);
  assert.is(f.engine.standIn?.pending(), 1);
  g.open();
  thaw(faults, ALL);
  assert.is(await f.engine.standIn?.drain(), 1);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 1850 + 1200);
});

standIn('no human step is replaced: above step_up_above, or naming an approval, a stand-in is a DENY', async () => {
  const { f, faults } = await standInFixture({
    stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 },
    step_up_above: 1000,
    partial_approval: true,
  });
  await f.engine.authorize(f.processor.id, f.request({ amount: 900 }));
  const g = gate();
  freeze(faults, g, ALL);
  const above = await f.engine.authorize(f.processor.id, f.request({ amount: 3000, partial_approval_supported: true }));
  assert.is(above.stand_in, true);
  assert.is(above.action, 'DENY', 'with the store up the same request is a STEP_UP');
  assert.is(above.approved_amount, 0);
  const named = await f.engine.authorize(f.processor.id, f.request({ amount: 500, approval_id: 'apr_unknown' }));
  assert.is(named.stand_in, true);
  assert.is(named.action, 'DENY', 'an approval cannot be checked or used without the store');
  const below = await f.engine.authorize(f.processor.id, f.request({ amount: 1000 }));
  assert.is(below.action, 'ALLOW', 'at the threshold the rule approves');
  g.open();
  thaw(faults, ALL);
});

/** A second engine (another server or worker) on the fixture's store, with its own spool, that has seen the credential. */
async function secondServer(f: Fixture, faults: Faults) {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const engine = createEngine({
    store: faults.store,
    policy: await defaultPolicy(),
    clock: f.clock,
    elapsed: () => f.clock.now(),
    config: { authorizeDeadlineMs: DEADLINE_MS, standInSpoolDir: dir, claimLeaseMs: 2 * DEADLINE_MS },
  });
  await engine.init();
  const warm = await engine.authorize(f.processor.id, f.request());
  assert.is(warm.stand_in, false);
  return engine;
}

standIn('two servers answer stand-ins for one authorization id: one stands, with exactly one hold', async () => {
  for (const order of ['first', 'second'] as const) {
    const { f, faults } = await standInFixture();
    await f.engine.authorize(f.processor.id, f.request());
    const other = await secondServer(f, faults);
    const g = gate();
    freeze(faults, g, ALL);
    const req = f.request({ amount: 3000 });
    const here = await f.engine.authorize(f.processor.id, req);
    const there = await other.authorize(f.processor.id, { ...req });
    assert.is(here.stand_in && there.stand_in, true);
    assert.is.not(here.decision_id, there.decision_id, 'each server answered its own');
    g.open();
    thaw(faults, ALL);
    const [a, b] = order === 'first' ? [f.engine, other] : [other, f.engine];
    assert.is(await a.standIn?.drain(), 1);
    assert.is(await b.standIn?.drain(), 1);
    assert.is(await b.standIn?.drain(), 0);
    const rec = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
    const stored = order === 'first' ? here : there;
    assert.is(rec?.decision?.decision_id, stored.decision_id, `${order}: the stand-in drained first stands`);
    assert.is(rec?.hold_open, true);
    const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
    assert.is(usage.windows.daily.spent, 1850 + 1850 + 3000, `${order}: the approval is held once`);
    assert.is(usage.windows.daily.count, 3);
    await f.engine.capture(f.processor.id, req.authorization_id as string, { amount: 3000 });
    const captured = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
    assert.is(captured.windows.daily.spent, 1850 + 1850 + 3000, `${order}: captured against that one hold`);
    await other.close();
  }
});

standIn('of two stand-ins for one authorization id, the one approving more stands, in either drain order', async () => {
  for (const order of ['larger first', 'smaller first'] as const) {
    const { f, faults } = await standInFixture({
      stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 },
      partial_approval: true,
    });
    await f.engine.authorize(f.processor.id, f.request());
    const other = await secondServer(f, faults);
    // Changed through this engine only: the other server's cache still has the old rule.
    await f.engine.updateAuthority(f.org.id, f.authority.id, { stand_in: { action: 'ALLOW_UP_TO', max_amount: 2000 } });
    await f.engine.authorize(f.processor.id, f.request());
    const g = gate();
    freeze(faults, g, ALL);
    const req = f.request({ amount: 3000, partial_approval_supported: true });
    const small = await f.engine.authorize(f.processor.id, req);
    const large = await other.authorize(f.processor.id, { ...req });
    assert.is(small.approved_amount, 2000);
    assert.is(large.approved_amount, 3000);
    g.open();
    thaw(faults, ALL);
    const [a, b] = order === 'larger first' ? [other, f.engine] : [f.engine, other];
    assert.is(await a.standIn?.drain(), 1);
    assert.is(await b.standIn?.drain(), 1);
    const rec = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
    assert.is(rec?.decision?.decision_id, large.decision_id, `${order}: the larger approval stands`);
    assert.is(rec?.approved_amount, 3000);
    const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
    assert.is(usage.windows.daily.spent, 3 * 1850 + 3000, `${order}: one hold, of the larger approval`);
    assert.is(usage.windows.daily.count, 4);
    await other.close();
  }
});

standIn('a drain that replaces an approved attempt cut off by the deadline gives its approval back', async () => {
  const { f, faults } = await standInFixture({
    stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 },
    step_up_above: 1000,
  });
  await f.engine.authorize(f.processor.id, f.request({ amount: 900 }));
  const step = await f.engine.authorize(f.processor.id, f.request({ amount: 3000 }));
  assert.is(step.action, 'STEP_UP');
  const approvalId = step.approval_id as string;
  await f.engine.approveApproval(f.org.id, approvalId);
  const g = gate();
  // The claim and the hold land; the approval's use (a write of the STEP_UP's record) is stuck in flight past
  // the deadline, and the attempt's later writes are refused.
  freeze(faults, g, ['updateAuthorization']);
  const req = f.request({ amount: 3000, approval_id: approvalId });
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.stand_in, true);
  assert.is(d.action, 'DENY');
  g.open();
  thaw(faults, ['updateAuthorization']);
  await Promise.all(g.inflight); // the late use lands
  const late = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.is(late?.status, 'pending', 'the cut-off attempt left its claim');
  assert.is((await f.engine.getApproval(f.org.id, approvalId)).status, 'used');
  assert.is((await f.engine.getAuthorityUsage(f.org.id, f.authority.id)).windows.daily.spent, 900 + 3000);
  assert.is(await f.engine.standIn?.drain(), 0, 'a live lease is not taken over');
  f.clock.advance(2 * DEADLINE_MS);
  assert.is(await f.engine.standIn?.drain(), 1);
  const rec = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.is(rec?.decision?.decision_id, d.decision_id, 'the answered stand-in stands');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 900, 'the late hold was given back');
  assert.is((await f.engine.getApproval(f.org.id, approvalId)).status, 'approved', 'usable again');
  const retry = await f.engine.authorize(f.processor.id, f.request({ amount: 3000, approval_id: approvalId }));
  assert.is(retry.action, 'ALLOW');
  assert.equal(retry.reason_codes, ['human_approved']);
});

standIn('the budget counts from when the caller received the request', async () => {
  // A deadline far longer than this test may run: only the time already spent before the engine (the
  // caller's receivedAt, long past) can end the budget of an authorize whose store never answers.
  const faults = faultyStore();
  const dir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const f = await makeFixture({
    store: faults.store,
    authority: { stand_in: { action: 'ALLOW_UP_TO', max_amount: 5000 } },
    config: { authorizeDeadlineMs: 600_000, standInSpoolDir: dir, claimLeaseMs: 1_200_000 },
  });
  await f.engine.authorize(f.processor.id, f.request());
  const g = gate();
  freeze(faults, g, ALL);
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 900 }), undefined, {
    receivedAt: performance.now() - 600_000,
  });
  assert.is(d.stand_in, true);
  assert.is(d.approved_amount, 900);
  g.open();
  thaw(faults, ALL);
  await Promise.all(g.inflight);
});

standIn('a claim left pending is taken over by a later request once the lease is over, across requests', async () => {
  // The lease is longer than one request's budget: only sightings kept across requests can end it.
  const f = await makeFixture({
    config: { authorizeDeadlineMs: 200, claimLeaseMs: 400, duplicateWaitMs: 20 },
    leasesOnClock: true,
  });
  const body = f.request({ amount: 700 });
  await pendingClaim(f, body, 'rsv_crashed', 400);
  await rejectsWithCode(f.engine.authorize(f.processor.id, body), 'idempotency_in_progress');
  f.clock.advance(399);
  await rejectsWithCode(f.engine.authorize(f.processor.id, { ...body }), 'idempotency_in_progress');
  f.clock.advance(1);
  const decision = await f.engine.authorize(f.processor.id, { ...body });
  assert.is(decision.action, 'ALLOW');
  assert.is(decision.approved_amount, 700);
});

standIn('waiting on a live twin past the budget is idempotency_in_progress, not a stand-in', async () => {
  const { f } = await standInFixture();
  await f.engine.authorize(f.processor.id, f.request());
  const body = f.request({ amount: 900 });
  // Another server holds the claim and is still deciding (its lease runs for a minute).
  await pendingClaim(f, body, 'rsv_twin', 60_000);
  await rejectsWithCode(f.engine.authorize(f.processor.id, body), 'idempotency_in_progress');
  assert.is(f.engine.standIn?.pending(), 0, 'nothing spooled beside the live twin');
});

standIn('the stand-in rule is validated on create and patch', async () => {
  const { f } = await standInFixture({});
  const base = { agent_id: f.agent.id, currency: 'USD' };
  await rejectsWithCode(
    f.engine.createAuthority(f.org.id, { ...base, stand_in: { action: 'ALLOW_UP_TO' } }),
    'validation_failed',
  );
  await rejectsWithCode(
    f.engine.createAuthority(f.org.id, { ...base, stand_in: { action: 'DENY', max_amount: 5 } }),
    'validation_failed',
  );
  await rejectsWithCode(
    f.engine.createAuthority(f.org.id, { ...base, stand_in: { action: 'ALLOW', max_amount: 5 } }),
    'validation_failed',
  );
  await rejectsWithCode(
    f.engine.createAuthority(f.org.id, { ...base, stand_in: { action: 'ALLOW_UP_TO', max_amount: 0 } }),
    'validation_failed',
  );
  const patched = await f.engine.updateAuthority(f.org.id, f.authority.id, {
    stand_in: { action: 'ALLOW_UP_TO', max_amount: 700 },
  });
  assert.equal(patched.stand_in, { action: 'ALLOW_UP_TO', max_amount: 700 });
  const other = await f.engine.updateAuthority(f.org.id, f.authority.id, { step_up_above: 100 });
  assert.equal(other.stand_in, { action: 'ALLOW_UP_TO', max_amount: 700 }, 'kept by an unrelated patch');
});

standIn.run();
