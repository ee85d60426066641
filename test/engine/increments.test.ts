import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyJws } from '../../src/crypto/index.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { type Fixture, makeFixture } from '../support/engine-fixture.js';

const inc = suite('incremental authorizations');

async function usage(f: Fixture) {
  const u = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  return { daily: u.windows.daily.spent, count: u.windows.daily.count, total: u.windows.total.spent };
}

async function approved(f: Fixture, amount: number) {
  const req = f.request({ amount });
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.action, 'ALLOW');
  return req.authorization_id as string;
}

inc('an increment raises the hold, signed, once per increment_id; no second transaction is counted', async () => {
  const f = await makeFixture();
  const id = await approved(f, 10_000);
  const d = await f.engine.increment(f.processor.id, id, { increment_id: 'night-2', amount: 5_000 });
  assert.equal([d.action, d.allowed, d.amount, d.approved_amount, d.reason_codes], ['ALLOW', true, 5_000, 15_000, []]);
  const proof = verifyJws(d.proof, f.engine.jwks());
  assert.ok(proof.ok && proof.payload.approved_amount === 15_000 && proof.payload.increment_id === 'night-2');
  assert.equal(await usage(f), { daily: 15_000, count: 1, total: 15_000 });
  const view = await f.engine.getAuthorization(f.processor.id, id);
  assert.is(view.approved_amount, 15_000);
  const again = await f.engine.increment(f.processor.id, id, { increment_id: 'night-2', amount: 5_000 });
  assert.is(again.decision_id, d.decision_id, 'a replay answers the stored decision');
  assert.equal(await usage(f), { daily: 15_000, count: 1, total: 15_000 });
  await rejectsWithCode(
    f.engine.increment(f.processor.id, id, { increment_id: 'night-2', amount: 6_000 }),
    'idempotency_mismatch',
  );
  await f.engine.audit.chainer.drain();
  const events = await f.store.listAuditEvents(f.org.id, { limit: 100, type: 'authorization.incremented' });
  assert.is(events.length, 1);
});

inc('the windows and the per-transaction limit apply to the raised hold; a DENY changes nothing', async () => {
  const f = await makeFixture({ authority: { limits: { per_transaction: 30_000, daily: 20_000 } } });
  const id = await approved(f, 15_000);
  const over = await f.engine.increment(f.processor.id, id, { increment_id: 'a', amount: 6_000 });
  assert.equal([over.action, over.reason_codes, over.approved_amount], ['DENY', ['daily_limit_exceeded'], 15_000]);
  assert.equal(await usage(f), { daily: 15_000, count: 1, total: 15_000 });
  const fits = await f.engine.increment(f.processor.id, id, { increment_id: 'b', amount: 5_000 });
  assert.is(fits.approved_amount, 20_000);
  f.clock.advance(24 * 3600 * 1000);
  const perTx = await f.engine.increment(f.processor.id, id, { increment_id: 'c', amount: 10_001 });
  assert.equal(perTx.reason_codes, ['per_transaction_limit_exceeded']);
  const nextDay = await f.engine.increment(f.processor.id, id, { increment_id: 'd', amount: 10_000 });
  assert.is(nextDay.approved_amount, 30_000, "the next day's window has room");
  assert.is((await f.engine.getAuthorization(f.processor.id, id)).approved_amount, 30_000);
});

inc('a paused authority or agent refuses increments; the step-up threshold applies to the new total', async () => {
  const f = await makeFixture({ authority: { step_up_above: 12_000 } });
  const id = await approved(f, 10_000);
  const stepUp = await f.engine.increment(f.processor.id, id, { increment_id: 'big', amount: 3_000 });
  assert.equal(stepUp.reason_codes, ['step_up_required']);
  await f.engine.updateAuthority(f.org.id, f.authority.id, { status: 'paused' });
  const paused = await f.engine.increment(f.processor.id, id, { increment_id: 'p', amount: 1_000 });
  assert.equal(paused.reason_codes, ['authority_not_active']);
  assert.equal(await usage(f), { daily: 10_000, count: 1, total: 10_000 });
});

inc('capture keeps what it captured across the increments; reverse and expiry give everything back', async () => {
  const f = await makeFixture();
  const captured = await approved(f, 10_000);
  await f.engine.increment(f.processor.id, captured, { increment_id: 'i1', amount: 4_000 });
  await f.engine.increment(f.processor.id, captured, { increment_id: 'i2', amount: 3_000 });
  await f.engine.increment(f.processor.id, captured, { increment_id: 'no', amount: 1_000_000 });
  await rejectsWithCode(f.engine.capture(f.processor.id, captured, { amount: 17_001 }), 'validation_failed');
  const view = await f.engine.capture(f.processor.id, captured, { amount: 12_500 });
  assert.equal([view.status, view.captured_amount], ['captured', 12_500]);
  assert.equal(await usage(f), { daily: 12_500, count: 1, total: 12_500 });
  await rejectsWithCode(
    f.engine.increment(f.processor.id, captured, { increment_id: 'late', amount: 1 }),
    'invalid_state',
  );

  const reversed = await approved(f, 2_000);
  await f.engine.increment(f.processor.id, reversed, { increment_id: 'r1', amount: 500 });
  await f.engine.reverse(f.processor.id, reversed);
  assert.equal(await usage(f), { daily: 12_500, count: 1, total: 12_500 });

  const expiring = await approved(f, 1_000);
  await f.engine.increment(f.processor.id, expiring, { increment_id: 'e1', amount: 250 });
  f.clock.advance(8 * 24 * 3600 * 1000);
  assert.is(await f.engine.expireHolds(), 1);
  const u = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(u.windows.total.spent, 12_500, 'the expired hold and its increment are given back');
});

inc(
  'an increment extends the hold to the hold period from now; unknown, declined and foreign ids are refused',
  async () => {
    const f = await makeFixture({ authority: { hold_period_seconds: 3600 } });
    const id = await approved(f, 1_000);
    f.clock.advance(30 * 60_000);
    const d = await f.engine.increment(f.processor.id, id, { increment_id: 'x', amount: 100 });
    assert.is(d.expires_at, '2026-11-23T11:30:00.000Z');
    assert.is((await f.engine.getAuthorization(f.processor.id, id)).hold_expires_at, '2026-11-23T11:30:00.000Z');
    await rejectsWithCode(
      f.engine.increment(f.processor.id, 'pa_missing', { increment_id: 'x', amount: 1 }),
      'not_found',
    );
    const other = await f.engine.createProcessor({ name: 'Other' });
    await rejectsWithCode(f.engine.increment(other.id, id, { increment_id: 'x', amount: 1 }), 'not_found');
    const declined = f.request({ amount: 60_000 });
    await f.engine.authorize(f.processor.id, declined);
    await rejectsWithCode(
      f.engine.increment(f.processor.id, declined.authorization_id as string, { increment_id: 'x', amount: 1 }),
      'invalid_state',
    );
    for (const bad of [{ increment_id: 'x' }, { increment_id: '', amount: 1 }, { increment_id: 'x', amount: 0 }]) {
      await rejectsWithCode(f.engine.increment(f.processor.id, id, bad), 'validation_failed');
    }
  },
);

inc('concurrent increments: one id applies once; distinct ids never pass the window', async () => {
  const f = await makeFixture({ authority: { limits: { per_transaction: 50_000, daily: 20_000 } } });
  const id = await approved(f, 10_000);
  const twins = await Promise.all(
    Array.from({ length: 6 }, () => f.engine.increment(f.processor.id, id, { increment_id: 'same', amount: 1_000 })),
  );
  assert.is(new Set(twins.map((d) => d.decision_id)).size, 1);
  assert.equal(await usage(f), { daily: 11_000, count: 1, total: 11_000 });
  const many = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      f.engine.increment(f.processor.id, id, { increment_id: `n${i}`, amount: 2_000 }),
    ),
  );
  const ok = many.filter((d) => d.allowed).length;
  assert.is(ok, 4, `allowed ${ok}`);
  assert.equal(await usage(f), { daily: 19_000, count: 1, total: 19_000 });
  assert.is((await f.engine.getAuthorization(f.processor.id, id)).approved_amount, 19_000);
});

inc.run();
