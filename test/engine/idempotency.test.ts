import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine } from '../../src/engine/index.js';
import { StorageError } from '../../src/storage/index.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { claimedRequest, defaultPolicy, makeFixture } from '../support/engine-fixture.js';
import { faultyStore } from '../support/faulty-store.js';

const idem = suite('authorize: idempotency');

idem('the same body returns the stored decision and holds once', async () => {
  const f = await makeFixture();
  const req = f.request();
  const first = await f.engine.authorize(f.processor.id, req);
  f.clock.advance(60_000);
  const second = await f.engine.authorize(f.processor.id, { ...req });
  assert.equal(second, first);
  const reordered = JSON.parse(JSON.stringify({ merchant: req.merchant, ...req }));
  assert.equal(await f.engine.authorize(f.processor.id, reordered), first, 'key order does not matter');
  const withDefaults = await f.engine.authorize(f.processor.id, { ...req, partial_approval_supported: false });
  assert.equal(withDefaults, first, 'an explicit default is the same request');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 1850);
  assert.is(usage.windows.daily.count, 1);
});

idem('a replay of a decided id answers from its first read wave: no later read, no write', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = f.request();
  const first = await f.engine.authorize(f.processor.id, req);
  const deny = f.request({ amount: 999_999 });
  const denied = await f.engine.authorize(f.processor.id, deny);
  assert.is(denied.action, 'DENY');
  // The resolution reads go out beside the read of the stored record; none may start once it is back (that
  // would be an evaluation), and nothing is written.
  let storedRead = false;
  const late: string[] = [];
  const writes: string[] = [];
  faults.wrap('getAuthorization', async (original, ...args) => {
    const rec = await original(...args);
    storedRead = true;
    return rec;
  });
  for (const m of ['findBinding', 'getAgent', 'getAuthority', 'getIntent', 'getUsage'] as const) {
    faults.wrap(m, (original, ...args) => {
      if (storedRead) late.push(m);
      return original(...args);
    });
  }
  for (const m of ['claimAuthorization', 'reserveUsage', 'updateAuthorization', 'consumeIntent'] as const) {
    faults.wrap(m, (original, ...args) => {
      writes.push(m);
      return original(...args);
    });
  }
  // Also on an engine that has never resolved this credential (its reads would follow one another).
  const fresh = createEngine({ store: faults.store, clock: f.clock, policy: await defaultPolicy() });
  await fresh.init();
  for (const engine of [f.engine, fresh]) {
    for (const [body, stored] of [
      [req, first],
      [deny, denied],
    ] as const) {
      storedRead = false;
      assert.equal(await engine.authorize(f.processor.id, { ...body }), stored);
      assert.ok(storedRead);
    }
  }
  assert.equal(late, []);
  assert.equal(writes, []);
});

idem('a replay is answered even when a resolution read sent beside it fails', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = f.request();
  const first = await f.engine.authorize(f.processor.id, req);
  faults.wrap('findBinding', () => Promise.reject(new StorageError('unavailable', 'down')));
  assert.equal(await f.engine.authorize(f.processor.id, { ...req }), first);
  await rejectsWithCode(f.engine.authorize(f.processor.id, f.request()), 'storage_unavailable');
});

idem('a different body under the same id is idempotency_mismatch', async () => {
  const f = await makeFixture();
  const req = f.request();
  await f.engine.authorize(f.processor.id, req);
  await rejectsWithCode(f.engine.authorize(f.processor.id, { ...req, amount: 1851 }), 'idempotency_mismatch');
  await rejectsWithCode(
    f.engine.authorize(f.processor.id, { ...req, merchant: { ...(req.merchant as object), name: 'Other' } }),
    'idempotency_mismatch',
  );
});

idem('denials are idempotent too', async () => {
  const f = await makeFixture();
  const req = f.request({ amount: 999_999 });
  const first = await f.engine.authorize(f.processor.id, req);
  await f.engine.updateAuthority(f.org.id, f.authority.id, {
    limits: { per_transaction: null, daily: null, weekly: null, monthly: null, total: null },
  });
  assert.equal(await f.engine.authorize(f.processor.id, req), first, 'the stored decision stands after a rule change');
});

idem('the same id from two processors are two authorizations', async () => {
  const f = await makeFixture();
  const other = await f.engine.createProcessor({ name: 'Other' });
  const req = f.request();
  const a = await f.engine.authorize(f.processor.id, req);
  const b = await f.engine.authorize(other.id, req);
  assert.is(a.action, 'ALLOW');
  assert.equal(b.reason_codes, ['binding_not_found']);
});

idem('a claimed attempt that failed gives its hold back; a retry decides again', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = await claimedRequest(f, 7000);
  faults.wrap('reserveUsage', async (original, ...args) => {
    await original(...args);
    faults.wrap('reserveUsage', null);
    throw new Error('connection reset after the write');
  });
  await rejectsWithCode(f.engine.authorize(f.processor.id, req), 'storage_internal');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 0, 'the failed attempt gave its hold back');
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.action, 'ALLOW');
  const after = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(after.windows.daily.spent, 7000);
  assert.is(after.windows.daily.count, 1);
});

idem('a claimed attempt whose final write was applied but reported a failure keeps the approval held', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = await claimedRequest(f, 7000);
  faults.wrap('updateAuthorization', async (original, ...args) => {
    await original(...args);
    faults.wrap('updateAuthorization', null);
    throw new Error('connection reset after the write');
  });
  await rejectsWithCode(f.engine.authorize(f.processor.id, req), 'storage_internal');
  const rec = await f.engine.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.is(rec.status, 'approved');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.equal([usage.windows.daily.spent, usage.windows.daily.count], [7000, 1], 'giving up lost its CAS: no release');
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.decision_id, rec.decision_id, 'a retry returns the stored approval');
});

idem('a plain attempt that failed after its reserve leaves the hold to its retry, which holds once', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = f.request({ amount: 7000 });
  faults.wrap('reserveUsage', async (original, ...args) => {
    await original(...args);
    faults.wrap('reserveUsage', null);
    throw new Error('connection reset after the write');
  });
  await rejectsWithCode(f.engine.authorize(f.processor.id, req), 'storage_internal');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 7000, 'no record won: nothing may be given back yet');
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.action, 'ALLOW');
  const after = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.equal([after.windows.daily.spent, after.windows.daily.count], [7000, 1]);
  const holds = faults.inner.inspectUsage(f.org.id, f.authority.id).holds;
  const rec = await faults.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.equal(holds, [rec?.reservation_id], 'the hold of the failed attempt was given back, the retry holds');
});

idem('a plain approval whose insert was applied but reported a failure is returned to its retry', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = f.request({ amount: 7000 });
  faults.wrap('claimAuthorization', async (original, ...args) => {
    await original(...args);
    faults.wrap('claimAuthorization', null);
    throw new Error('connection reset after the write');
  });
  await rejectsWithCode(f.engine.authorize(f.processor.id, req), 'storage_internal');
  const rec = await f.engine.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.is(rec.status, 'approved');
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.decision_id, rec.decision_id, 'a retry returns the stored approval');
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.equal([usage.windows.daily.spent, usage.windows.daily.count], [7000, 1]);
});

idem('a pending claim of a live server makes a twin wait, then fail with idempotency_in_progress', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store, config: { duplicateWaitMs: 50 } });
  const req = await claimedRequest(f, 1850);
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let reached!: () => void;
  const holding = new Promise<void>((r) => {
    reached = r;
  });
  faults.wrap('reserveUsage', async (original, ...args) => {
    reached();
    await gate;
    return original(...args);
  });
  const first = f.engine.authorize(f.processor.id, req);
  // The first attempt holds its claim (it is past the claim, waiting in the reservation).
  await holding;
  await rejectsWithCode(f.engine.authorize(f.processor.id, req), 'idempotency_in_progress');
  release();
  const d = await first;
  assert.is(d.action, 'ALLOW');
  assert.equal(await f.engine.authorize(f.processor.id, req), d);
});

idem.run();
