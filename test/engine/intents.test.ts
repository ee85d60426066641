import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyJws } from '../../src/crypto/index.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { type Fixture, makeFixture } from '../support/engine-fixture.js';

const intentBody = (f: Fixture, overrides: Record<string, unknown> = {}) => ({
  agent_id: f.agent.id,
  description: 'Buy a replacement keyboard',
  max_amount: 5000,
  currency: 'USD',
  merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'US' },
  expires_at: '2026-11-24T10:00:00Z',
  ...overrides,
});

const validate = suite('validateIntent');

validate('approves an intent within the authority and signs a mandate', async () => {
  const f = await makeFixture();
  const res = await f.engine.validateIntent(f.org.id, intentBody(f));
  assert.is(res.action, 'ALLOW');
  assert.is(res.intent.status, 'approved');
  assert.is(res.intent.authority_id, f.authority.id);
  assert.is(res.intent.expires_at, '2026-11-24T10:00:00.000Z');
  const v = verifyJws(res.mandate, f.engine.jwks());
  assert.ok(v.ok);
  if (v.ok) {
    assert.is(v.payload.intent_id, res.intent.id);
    assert.is(v.payload.status, 'approved');
    assert.is(v.payload.max_amount, 5000);
  }
  assert.is((await f.engine.getIntent(f.org.id, res.intent.id)).status, 'approved');
});

validate('denies against the authority rules', async () => {
  const f = await makeFixture({ authority: { merchant_rules: { block_mcc: ['5734'] } } });
  const res = await f.engine.validateIntent(f.org.id, intentBody(f));
  assert.is(res.action, 'DENY');
  assert.is(res.intent.status, 'denied');
  assert.equal(res.reason_codes, ['mcc_blocked']);
  const euro = await f.engine.validateIntent(f.org.id, intentBody(f, { currency: 'EUR' }));
  assert.equal(euro.reason_codes, ['authority_not_found'], 'no authority of the agent is in EUR');
  const named = await f.engine.validateIntent(
    f.org.id,
    intentBody(f, { currency: 'EUR', authority_id: f.authority.id }),
  );
  assert.ok(named.reason_codes.includes('currency_not_allowed'));
  const big = await f.engine.validateIntent(
    f.org.id,
    intentBody(f, { max_amount: 6_000_000, single_use: false, merchant: {} }),
  );
  assert.equal(big.reason_codes, ['total_limit_exceeded']);
  const past = await f.engine.validateIntent(f.org.id, intentBody(f, { expires_at: '2026-11-23T09:00:00Z' }));
  assert.ok(past.reason_codes.includes('intent_expired'));
});

validate('pending approval above the step-up threshold, then approved by a human', async () => {
  const f = await makeFixture({ authority: { step_up_above: 1000 } });
  const res = await f.engine.validateIntent(f.org.id, intentBody(f));
  assert.is(res.action, 'STEP_UP');
  assert.is(res.intent.status, 'pending_approval');
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 4000, intent_id: res.intent.id }));
  assert.equal(d.reason_codes, ['intent_not_approved']);
  const approved = await f.engine.approveIntent(f.org.id, res.intent.id);
  assert.is(approved.intent.status, 'approved');
  const ok = await f.engine.authorize(f.processor.id, f.request({ amount: 4000, intent_id: res.intent.id }));
  assert.is(ok.action, 'ALLOW', 'an approved intent satisfies the step-up');
  assert.is(ok.intent_id, res.intent.id);
  await rejectsWithCode(f.engine.approveIntent(f.org.id, res.intent.id), 'invalid_state');
});

validate('bad input and unknown agent', async () => {
  const f = await makeFixture();
  await rejectsWithCode(f.engine.validateIntent(f.org.id, intentBody(f, { max_amount: 0 })), 'validation_failed');
  await rejectsWithCode(
    f.engine.validateIntent(f.org.id, intentBody(f, { expires_at: 'tomorrow' })),
    'validation_failed',
  );
  await rejectsWithCode(f.engine.validateIntent(f.org.id, intentBody(f, { agent_id: 'agt_missing' })), 'not_found');
  const other = await makeFixture();
  await rejectsWithCode(other.engine.getIntent(other.org.id, 'int_missing'), 'not_found');
});

validate.run();

// ---

const matching = suite('authorize with an intent');

matching('single-use intent: matched once, then consumed', async () => {
  const f = await makeFixture();
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f));
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 4500, intent_id: intent.id }));
  assert.is(d.action, 'ALLOW');
  const after = await f.engine.getIntent(f.org.id, intent.id);
  assert.is(after.status, 'consumed');
  assert.is(after.consumed_amount, 4500);
  const again = await f.engine.authorize(f.processor.id, f.request({ amount: 100, intent_id: intent.id }));
  assert.equal(again.reason_codes, ['intent_consumed']);
});

matching('reversal gives a single-use intent back', async () => {
  const f = await makeFixture();
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f));
  const req = f.request({ amount: 4500, intent_id: intent.id });
  await f.engine.authorize(f.processor.id, req);
  await f.engine.reverse(f.processor.id, req.authorization_id as string);
  const back = await f.engine.getIntent(f.org.id, intent.id);
  assert.is(back.status, 'approved');
  assert.is(back.consumed_amount, 0);
});

matching('multi-use intent: consumed up to its max amount', async () => {
  const f = await makeFixture();
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f, { single_use: false }));
  for (const amount of [2000, 2000]) {
    const d = await f.engine.authorize(f.processor.id, f.request({ amount, intent_id: intent.id }));
    assert.is(d.action, 'ALLOW');
  }
  const over = await f.engine.authorize(f.processor.id, f.request({ amount: 1001, intent_id: intent.id }));
  assert.equal(over.reason_codes, ['intent_amount_mismatch']);
  const rest = await f.engine.authorize(f.processor.id, f.request({ amount: 1000, intent_id: intent.id }));
  assert.is(rest.action, 'ALLOW');
  const i = await f.engine.getIntent(f.org.id, intent.id);
  assert.is(i.consumed_amount, 5000);
  assert.is(i.status, 'approved');
});

matching('capturing less than approved gives the rest of a multi-use intent back', async () => {
  const f = await makeFixture();
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f, { single_use: false }));
  const first = f.request({ amount: 4000, intent_id: intent.id });
  await f.engine.authorize(f.processor.id, first);
  assert.equal(
    (await f.engine.authorize(f.processor.id, f.request({ amount: 1001, intent_id: intent.id }))).reason_codes,
    ['intent_amount_mismatch'],
  );
  await f.engine.capture(f.processor.id, first.authorization_id as string, { amount: 2500 });
  assert.is((await f.engine.getIntent(f.org.id, intent.id)).consumed_amount, 2500);
  const rest = await f.engine.authorize(f.processor.id, f.request({ amount: 2500, intent_id: intent.id }));
  assert.is(rest.action, 'ALLOW');
  assert.is((await f.engine.getIntent(f.org.id, intent.id)).consumed_amount, 5000);
});

matching('mismatches: amount, currency, merchant, unknown, expired, cancelled, required', async () => {
  const f = await makeFixture({ authority: { require_intent: true } });
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f));
  const cases: [Record<string, unknown>, string][] = [
    [{ amount: 5001, intent_id: intent.id }, 'intent_amount_mismatch'],
    [{ merchant: { id: 'mer_other', mcc: '5734', country: 'US' }, intent_id: intent.id }, 'intent_merchant_mismatch'],
    [
      { merchant: { id: 'mer_3c7a1b9f', mcc: '5411', country: 'US' }, intent_id: intent.id },
      'intent_merchant_mismatch',
    ],
    [
      { merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'CA' }, intent_id: intent.id },
      'intent_merchant_mismatch',
    ],
    [{ intent_id: 'int_01m83xj880aaaaaaaaaaaaaaaa' }, 'intent_not_found'],
    [{}, 'intent_required'],
  ];
  for (const [overrides, reason] of cases) {
    const d = await f.engine.authorize(f.processor.id, f.request(overrides));
    assert.is(d.action, 'DENY');
    assert.ok(d.reason_codes.includes(reason), `${JSON.stringify(overrides)} → ${d.reason_codes}`);
  }
  f.clock.set('2026-11-24T10:00:00.000Z');
  const expired = await f.engine.authorize(f.processor.id, f.request({ intent_id: intent.id }));
  assert.ok(expired.reason_codes.includes('intent_expired'));
  assert.is((await f.engine.getIntent(f.org.id, intent.id)).status, 'expired');
  f.clock.set('2026-11-23T11:00:00.000Z');
  await f.engine.cancelIntent(f.org.id, intent.id);
  const cancelled = await f.engine.authorize(f.processor.id, f.request({ intent_id: intent.id }));
  assert.ok(cancelled.reason_codes.includes('intent_not_approved'));
});

matching("another agent's intent is not found", async () => {
  const f = await makeFixture();
  const other = await f.engine.createAgent(f.org.id, { name: 'other' });
  await f.engine.createAuthority(f.org.id, { agent_id: other.id, currency: 'USD' });
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f, { agent_id: other.id }));
  assert.is(intent.status, 'approved');
  const d = await f.engine.authorize(f.processor.id, f.request({ intent_id: intent.id }));
  assert.equal(d.reason_codes, ['intent_not_found']);
});

matching('two authorizations racing for one single-use intent: exactly one wins', async () => {
  const f = await makeFixture();
  const { intent } = await f.engine.validateIntent(f.org.id, intentBody(f));
  const results = await Promise.all(
    Array.from({ length: 20 }, () =>
      f.engine.authorize(f.processor.id, f.request({ amount: 100, intent_id: intent.id })),
    ),
  );
  const allowed = results.filter((d) => d.allowed);
  assert.is(allowed.length, 1);
  for (const d of results.filter((r) => !r.allowed)) assert.equal(d.reason_codes, ['intent_consumed']);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 100, 'losers hold nothing');
});

matching.run();
