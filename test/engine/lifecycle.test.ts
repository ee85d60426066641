import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { makeFixture } from '../support/engine-fixture.js';
import { faultyStore } from '../support/faulty-store.js';

const life = suite('capture, reverse, expire');

async function spent(f: Awaited<ReturnType<typeof makeFixture>>) {
  const u = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  return { daily: u.windows.daily.spent, count: u.windows.daily.count, total: u.windows.total.spent };
}

life('capture less than approved keeps the capture and releases the rest', async () => {
  const f = await makeFixture();
  const req = f.request({ amount: 10_000 });
  await f.engine.authorize(f.processor.id, req);
  const id = req.authorization_id as string;
  await rejectsWithCode(f.engine.capture(f.processor.id, id, { amount: 10_001 }), 'validation_failed');
  const view = await f.engine.capture(f.processor.id, id, { amount: 6_000 });
  assert.is(view.status, 'captured');
  assert.is(view.captured_amount, 6_000);
  assert.equal(await spent(f), { daily: 6_000, count: 1, total: 6_000 });
  const again = await f.engine.capture(f.processor.id, id, { amount: 6_000 });
  assert.is(again.status, 'captured', 'repeating the same capture is harmless');
  assert.equal(await spent(f), { daily: 6_000, count: 1, total: 6_000 });
  await rejectsWithCode(f.engine.capture(f.processor.id, id, { amount: 5_000 }), 'invalid_state');
  await rejectsWithCode(f.engine.reverse(f.processor.id, id), 'invalid_state');
});

life('capture defaults to the approved amount', async () => {
  const f = await makeFixture();
  const req = f.request({ amount: 3_000 });
  await f.engine.authorize(f.processor.id, req);
  const view = await f.engine.capture(f.processor.id, req.authorization_id as string);
  assert.is(view.captured_amount, 3_000);
  assert.equal(await spent(f), { daily: 3_000, count: 1, total: 3_000 });
});

life('reverse releases the whole hold, once', async () => {
  const f = await makeFixture();
  const keep = f.request({ amount: 1_000 });
  const undo = f.request({ amount: 4_000 });
  await f.engine.authorize(f.processor.id, keep);
  await f.engine.authorize(f.processor.id, undo);
  assert.equal(await spent(f), { daily: 5_000, count: 2, total: 5_000 });
  await f.engine.reverse(f.processor.id, undo.authorization_id as string);
  assert.equal(await spent(f), { daily: 1_000, count: 1, total: 1_000 });
  const again = await f.engine.reverse(f.processor.id, undo.authorization_id as string);
  assert.is(again.status, 'reversed');
  assert.equal(await spent(f), { daily: 1_000, count: 1, total: 1_000 }, 'a replayed reversal releases nothing more');
  await rejectsWithCode(f.engine.capture(f.processor.id, undo.authorization_id as string), 'invalid_state');
});

life('declined and unknown authorizations cannot be captured', async () => {
  const f = await makeFixture();
  const req = f.request({ amount: 999_999 });
  await f.engine.authorize(f.processor.id, req);
  await rejectsWithCode(f.engine.capture(f.processor.id, req.authorization_id as string), 'invalid_state');
  await rejectsWithCode(f.engine.capture(f.processor.id, 'pa_nope'), 'not_found');
  const other = await f.engine.createProcessor({ name: 'Other' });
  const ok = f.request();
  await f.engine.authorize(f.processor.id, ok);
  await rejectsWithCode(f.engine.capture(other.id, ok.authorization_id as string), 'not_found');
});

life('expireHolds releases exactly the holds older than the hold period', async () => {
  const f = await makeFixture();
  const old = f.request({ amount: 2_000 });
  await f.engine.authorize(f.processor.id, old);
  f.clock.advance(24 * 3600 * 1000);
  const recent = f.request({ amount: 3_000 });
  await f.engine.authorize(f.processor.id, recent);
  const captured = f.request({ amount: 500 });
  await f.engine.authorize(f.processor.id, captured);
  await f.engine.capture(f.processor.id, captured.authorization_id as string);
  f.clock.advance(6 * 24 * 3600 * 1000 + 1);
  assert.is(await f.engine.expireHolds(), 1);
  assert.is((await f.engine.getAuthorization(f.processor.id, old.authorization_id as string)).status, 'expired');
  assert.is((await f.engine.getAuthorization(f.processor.id, recent.authorization_id as string)).status, 'approved');
  const u = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(u.windows.total.spent, 3_500);
  assert.is(u.windows.total.count, 2);
  assert.is(await f.engine.expireHolds(), 0, 'nothing twice');
  await rejectsWithCode(f.engine.capture(f.processor.id, old.authorization_id as string), 'invalid_state');
});

life('a release left half-done by a crash is finished by the sweep', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = f.request({ amount: 2_500 });
  await f.engine.authorize(f.processor.id, req);
  faults.wrap('releaseUsage', async () => {
    throw new Error('down');
  });
  await rejectsWithCode(f.engine.reverse(f.processor.id, req.authorization_id as string), 'storage_internal');
  assert.equal(await spent(f), { daily: 2_500, count: 1, total: 2_500 });
  faults.wrap('releaseUsage', null);
  assert.is(await f.engine.expireHolds(), 1);
  assert.equal(await spent(f), { daily: 0, count: 0, total: 0 });
});

life('lists filter by status and page with a cursor', async () => {
  const f = await makeFixture();
  for (let i = 0; i < 5; i++) {
    await f.engine.authorize(f.processor.id, f.request({ amount: 100 + i }));
    f.clock.advance(1);
  }
  await f.engine.authorize(f.processor.id, f.request({ amount: 999_999 }));
  const declined = await f.engine.listAuthorizations(f.org.id, { status: 'declined' });
  assert.is(declined.items.length, 1);
  const page1 = await f.engine.listAuthorizations(f.org.id, { limit: 4 });
  assert.is(page1.items.length, 4);
  assert.ok(page1.next_cursor);
  const page2 = await f.engine.listAuthorizations(f.org.id, { limit: 4, cursor: page1.next_cursor });
  assert.is(page2.items.length, 2);
  assert.is(page2.next_cursor, null);
  const all = [...page1.items, ...page2.items].map((a) => a.authorization_id);
  assert.is(new Set(all).size, 6);
  await rejectsWithCode(f.engine.listAuthorizations(f.org.id, { limit: 1000 }), 'validation_failed');
  const other = await makeFixture();
  assert.is((await other.engine.listAuthorizations(f.org.id, {})).items.length, 0);
});

life.run();
