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

life('several captures while the hold is open stay spent when it closes or expires; the rest is released', async () => {
  const f = await makeFixture();
  const closed = f.request({ amount: 10_000 });
  await f.engine.authorize(f.processor.id, closed);
  const id = closed.authorization_id as string;
  const first = await f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_1', amount: 3_000 });
  assert.equal(
    [first.outcome, first.authorization.status, first.authorization.captured_amount],
    ['applied', 'approved', 3_000],
  );
  await f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_2', amount: 2_500 });
  const replay = await f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_1', amount: 3_000 });
  assert.is(replay.outcome, 'already_applied');
  assert.equal(await spent(f), { daily: 10_000, count: 1, total: 10_000 }, 'held whole until it closes');
  const view = await f.engine.closeAuthorization(f.processor.id, id);
  assert.equal([view.status, view.captured_amount], ['captured', 5_500]);
  assert.equal(await spent(f), { daily: 5_500, count: 1, total: 5_500 });
  assert.is((await f.engine.closeAuthorization(f.processor.id, id)).status, 'captured', 'closing again is harmless');
  assert.equal(await spent(f), { daily: 5_500, count: 1, total: 5_500 });

  // A hold the processor never closes expires as captured for what it captured.
  const lapsed = f.request({ amount: 2_000 });
  await f.engine.authorize(f.processor.id, lapsed);
  await f.engine.settleCapture(f.processor.id, lapsed.authorization_id as string, {
    settlement_id: 'tx_3',
    amount: 800,
  });
  f.clock.advance(7 * 24 * 3600 * 1000 + 1);
  assert.is(await f.engine.expireHolds(), 1);
  const after = await f.engine.getAuthorization(f.processor.id, lapsed.authorization_id as string);
  assert.equal([after.status, after.captured_amount], ['captured', 800]);
  const u = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(u.windows.total.spent, 6_300);

  // Nothing captured: closing is a reversal.
  const unused = f.request({ amount: 700 });
  await f.engine.authorize(f.processor.id, unused);
  assert.is((await f.engine.closeAuthorization(f.processor.id, unused.authorization_id as string)).status, 'reversed');
  await rejectsWithCode(
    f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_x', amount: 0 }),
    'validation_failed',
  );
});

life(
  "a refund credits the windows still in the authorization's periods; a day that ended is not credited",
  async () => {
    const f = await makeFixture();
    const req = f.request({ amount: 4_000 });
    await f.engine.authorize(f.processor.id, req);
    const id = req.authorization_id as string;
    await f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_1', amount: 4_000 });
    await f.engine.closeAuthorization(f.processor.id, id);
    // The next day (same week and month), another purchase.
    f.clock.advance(24 * 3600 * 1000);
    await f.engine.authorize(f.processor.id, f.request({ amount: 1_000 }));
    const refund = await f.engine.settleRefund(f.processor.id, id, { settlement_id: 'rf_1', amount: 3_000 });
    assert.equal([refund.outcome, refund.authorization.refunded_amount], ['applied', 3_000]);
    assert.is(
      (await f.engine.settleRefund(f.processor.id, id, { settlement_id: 'rf_1', amount: 3_000 })).outcome,
      'already_applied',
    );
    const u = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
    assert.equal(
      [u.windows.daily.spent, u.windows.weekly.spent, u.windows.monthly.spent, u.windows.total.spent],
      [1_000, 2_000, 2_000, 2_000],
    );
    assert.is(u.windows.daily.count, 1);
    // At most what was captured and not refunded; then nothing is left.
    await f.engine.settleRefund(f.processor.id, id, { settlement_id: 'rf_2', amount: 9_999 });
    assert.is((await f.engine.getAuthorization(f.processor.id, id)).refunded_amount, 4_000);
    await rejectsWithCode(
      f.engine.settleRefund(f.processor.id, id, { settlement_id: 'rf_3', amount: 1 }),
      'invalid_state',
    );
    assert.is((await f.engine.getAuthorityUsage(f.org.id, f.authority.id)).windows.total.spent, 1_000);
  },
);

life('a settlement whose record write fails after the ledger moved is counted once on its replay', async () => {
  const faults = faultyStore();
  const f = await makeFixture({ store: faults.store });
  const req = f.request({ amount: 2_000 });
  await f.engine.authorize(f.processor.id, req);
  const id = req.authorization_id as string;
  await f.engine.closeAuthorization(f.processor.id, id);
  assert.equal(await spent(f), { daily: 0, count: 0, total: 0 });
  faults.wrap('updateAuthorization', async () => {
    throw new Error('down');
  });
  await rejectsWithCode(
    f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_late', amount: 1_500 }),
    'storage_internal',
  );
  assert.is((await spent(f)).total, 1_500, 'the ledger moved before the record');
  faults.wrap('updateAuthorization', null);
  const replay = await f.engine.settleCapture(f.processor.id, id, { settlement_id: 'tx_late', amount: 1_500 });
  assert.is(replay.outcome, 'applied');
  assert.is((await spent(f)).total, 1_500, 'and not again');
  assert.equal([replay.authorization.status, replay.authorization.captured_amount], ['captured', 1_500]);
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
