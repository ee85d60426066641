import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { REASON_CODES } from '../../src/engine/index.js';
import { makeFixture } from '../support/engine-fixture.js';

const seen = new Set<string>();
const note = (codes: string[]) => {
  for (const c of codes) seen.add(c);
};

const reasons = suite('authorize: reason codes and actions');

async function decide(authorityOverrides: Record<string, unknown>, requestOverrides: Record<string, unknown> = {}) {
  const f = await makeFixture({ authority: authorityOverrides });
  const d = await f.engine.authorize(f.processor.id, f.request(requestOverrides));
  note(d.reason_codes);
  return { f, d };
}

reasons('an ordinary purchase is allowed in full', async () => {
  const { d } = await decide({});
  assert.is(d.action, 'ALLOW');
  assert.is(d.allowed, true);
  assert.is(d.approved_amount, 1850);
  assert.equal(d.reason_codes, []);
  assert.is(d.policy_revision, 'test-revision');
});

for (const [name, authority, request, expected] of [
  ['currency', {}, { currency: 'EUR' }, 'currency_not_allowed'],
  ['zero amount', {}, { amount: 0 }, 'amount_invalid'],
  ['negative amount', {}, { amount: -5 }, 'amount_invalid'],
  ['per transaction', {}, { amount: 50_001 }, 'per_transaction_limit_exceeded'],
  ['blocked mcc', { merchant_rules: { block_mcc: ['5734'] } }, {}, 'mcc_blocked'],
  ['mcc not allowed', { merchant_rules: { allow_mcc: ['5411'] } }, {}, 'mcc_not_allowed'],
  ['blocked merchant', { merchant_rules: { block_merchant_ids: ['mer_3c7a1b9f'] } }, {}, 'merchant_blocked'],
  ['merchant not allowed', { merchant_rules: { allow_merchant_ids: ['mer_other'] } }, {}, 'merchant_not_allowed'],
  ['country not allowed', { merchant_rules: { allow_countries: ['DE'] } }, {}, 'country_not_allowed'],
  ['not yet valid', { valid_from: '2026-12-01T00:00:00Z' }, {}, 'authority_not_yet_valid'],
  ['expired', { valid_until: '2026-11-23T09:59:59.999Z' }, {}, 'authority_expired'],
  ['intent required', { require_intent: true }, {}, 'intent_required'],
  ['daily', { limits: { daily: 1000 } }, {}, 'daily_limit_exceeded'],
  ['weekly', { limits: { weekly: 1000 } }, {}, 'weekly_limit_exceeded'],
  ['monthly', { limits: { monthly: 1000 } }, {}, 'monthly_limit_exceeded'],
  ['total', { limits: { total: 1000 } }, {}, 'total_limit_exceeded'],
] as const) {
  reasons(`deny: ${name} → ${expected}`, async () => {
    const { f, d } = await decide(authority, request);
    assert.is(d.action, 'DENY');
    assert.is(d.allowed, false);
    assert.is(d.approved_amount, 0);
    assert.ok(d.reason_codes.includes(expected), `${d.reason_codes} lacks ${expected}`);
    const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
    assert.is(usage.windows.total.spent, 0, 'a denial holds nothing');
  });
}

reasons('velocity: one transaction per day', async () => {
  const f = await makeFixture({ authority: { velocity: { daily: 1 } } });
  assert.is((await f.engine.authorize(f.processor.id, f.request())).action, 'ALLOW');
  const d = await f.engine.authorize(f.processor.id, f.request());
  note(d.reason_codes);
  assert.is(d.action, 'DENY');
  assert.equal(d.reason_codes, ['velocity_limit_exceeded']);
});

reasons('statuses: paused agent, suspended binding, paused authority', async () => {
  const f = await makeFixture();
  await f.engine.updateAgent(f.org.id, f.agent.id, { status: 'paused' });
  let d = await f.engine.authorize(f.processor.id, f.request());
  note(d.reason_codes);
  assert.ok(d.reason_codes.includes('agent_not_active'));
  await f.engine.updateAgent(f.org.id, f.agent.id, { status: 'active' });
  await f.engine.suspendBinding(f.org.id, f.binding.id);
  d = await f.engine.authorize(f.processor.id, f.request());
  note(d.reason_codes);
  assert.equal(d.reason_codes, ['binding_not_active']);
  await f.engine.resumeBinding(f.org.id, f.binding.id);
  await f.engine.updateAuthority(f.org.id, f.authority.id, { status: 'paused' });
  d = await f.engine.authorize(f.processor.id, f.request());
  note(d.reason_codes);
  assert.equal(d.reason_codes, ['authority_not_active']);
  await f.engine.updateAuthority(f.org.id, f.authority.id, { status: 'active' });
  assert.is((await f.engine.authorize(f.processor.id, f.request())).action, 'ALLOW');
});

reasons('revoking the agent suspends its bindings', async () => {
  const f = await makeFixture();
  await f.engine.revokeAgent(f.org.id, f.agent.id);
  const binding = await f.engine.getBinding(f.org.id, f.binding.id);
  assert.is(binding.status, 'suspended');
  const d = await f.engine.authorize(f.processor.id, f.request());
  assert.equal(d.reason_codes, ['agent_not_active', 'binding_not_active']);
  const { code } = await f.engine.resumeBinding(f.org.id, f.binding.id).catch((e) => e);
  assert.is(code, 'invalid_state');
});

reasons('unknown credential and another processor', async () => {
  const f = await makeFixture();
  let d = await f.engine.authorize(f.processor.id, f.request({ credential_reference: 'tok_unknown' }));
  note(d.reason_codes);
  assert.equal(d.reason_codes, ['binding_not_found']);
  assert.is(d.org_id, null);
  const other = await f.engine.createProcessor({ name: 'Other' });
  d = await f.engine.authorize(other.id, f.request());
  assert.equal(d.reason_codes, ['binding_not_found'], 'a reference is only found for its own processor');
  const { credential_reference: _, ...byId } = f.request({ binding_id: f.binding.id });
  d = await f.engine.authorize(other.id, byId);
  note(d.reason_codes);
  assert.equal(d.reason_codes, ['processor_mismatch']);
  assert.is(d.agent_id, null, 'nothing of the org leaks to another processor');
  const { credential_reference: __, ...own } = f.request({ binding_id: f.binding.id });
  assert.is((await f.engine.authorize(f.processor.id, own)).action, 'ALLOW');
});

reasons('step-up above the threshold', async () => {
  const { f, d } = await decide({ step_up_above: 1000 });
  assert.is(d.action, 'STEP_UP');
  assert.equal(d.reason_codes, ['step_up_required']);
  assert.is(d.allowed, false);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 0);
  const below = await f.engine.authorize(f.processor.id, f.request({ amount: 1000 }));
  assert.is(below.action, 'ALLOW');
});

reasons('partial approval up to the remaining daily budget', async () => {
  const f = await makeFixture({ authority: { limits: { daily: 5000 }, partial_approval: true } });
  assert.is((await f.engine.authorize(f.processor.id, f.request({ amount: 4000 }))).action, 'ALLOW');
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 3000, partial_approval_supported: true }));
  note(d.reason_codes);
  assert.is(d.action, 'ALLOW_WITH_LIMITS');
  assert.is(d.approved_amount, 1000);
  assert.equal(d.reason_codes, ['partially_approved']);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.daily.spent, 5000);
  assert.is(usage.windows.daily.remaining, 0);
  const none = await f.engine.authorize(f.processor.id, f.request({ amount: 10, partial_approval_supported: true }));
  assert.is(none.action, 'DENY', 'nothing left: no partial approval of zero');
  assert.equal(none.reason_codes, ['daily_limit_exceeded']);
});

reasons('partial approval needs both the authority and the processor', async () => {
  const f = await makeFixture({ authority: { limits: { daily: 1000 }, partial_approval: true } });
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 3000 }));
  assert.is(d.action, 'DENY');
  const g = await makeFixture({ authority: { limits: { daily: 1000 } } });
  const e = await g.engine.authorize(g.processor.id, g.request({ amount: 3000, partial_approval_supported: true }));
  assert.is(e.action, 'DENY');
});

reasons('a malformed request is an error, not a decision', async () => {
  const f = await makeFixture();
  for (const bad of [
    f.request({ amount: 1.5 }),
    f.request({ currency: 'usd' }),
    f.request({ merchant: { mcc: '57' } }),
    f.request({ channel: 'phone' }),
    f.request({ surprise: true }),
    { ...f.request(), binding_id: f.binding.id },
    (({ credential_reference: _, ...r }) => r)(f.request()),
    (({ authorization_id: _, ...r }) => r)(f.request()),
  ]) {
    const err = await f.engine.authorize(f.processor.id, bad).catch((e) => e);
    assert.is(err.code, 'validation_failed', JSON.stringify(bad));
    assert.ok(Array.isArray(err.details) && err.details.length > 0);
  }
});

reasons('an unknown or suspended processor cannot authorize', async () => {
  const f = await makeFixture();
  const err = await f.engine.authorize('prc_nope', f.request()).catch((e) => e);
  assert.is(err.code, 'processor_not_active');
});

reasons.after(() => {
  // Intent reasons are covered in intents.test; concurrency in concurrency.test; stand-ins in stand-in.test;
  // policy_error (an org policy failing at run time) in engine/org-policy.test; human approvals in
  // engine/approvals.test.
  const elsewhere = new Set([
    'human_approved',
    'approval_not_found',
    'approval_pending',
    'approval_declined',
    'approval_expired',
    'approval_already_used',
    'approval_agent_mismatch',
    'approval_merchant_mismatch',
    'approval_amount_exceeded',
    'intent_not_found',
    'intent_not_approved',
    'intent_amount_mismatch',
    'intent_merchant_mismatch',
    'intent_expired',
    'intent_consumed',
    'limit_exceeded_concurrent',
    'authority_not_found',
    'stand_in_store_unavailable',
    'policy_error',
  ]);
  const missing = Object.keys(REASON_CODES).filter((c) => !seen.has(c) && !elsewhere.has(c));
  assert.equal(missing, [], `reason codes never produced here: ${missing}`);
});

reasons.run();
