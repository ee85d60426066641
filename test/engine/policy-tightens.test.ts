import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine } from '../../src/engine/index.js';
import { type LoadedPolicy, loadPolicy } from '../../src/policy/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { bundleFrom } from '../support/policy-bundle.js';

// A policy that answers the same for every input, for both entry points.
function constant(decision: string): Promise<LoadedPolicy> {
  return bundleFrom(
    {
      'spend.rego': `package allowance.spend\n\ndecision := ${decision}\n`,
      'intent.rego': `package allowance.intent\n\ndecision := ${decision}\n`,
    },
    'constant',
  ).then((bytes) => loadPolicy(bytes));
}

let allowAll: Promise<LoadedPolicy> | undefined;
const ALLOW = () => {
  allowAll ??= constant('{"action": "ALLOW", "reasons": []}');
  return allowAll;
};

const NOW = '2026-11-23T10:00:00.000Z';
const MERCHANT = { id: 'mer_1', name: 'Shop', mcc: '5734', country: 'US' };

async function world(authority: Record<string, unknown> = {}, policy?: LoadedPolicy) {
  const clock = new ManualClock(NOW);
  const engine = createEngine({ store: new MemoryAdapter(), policy: policy ?? (await ALLOW()), clock });
  await engine.init();
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'P' });
  const agent = await engine.createAgent(org.id, { name: 'a' });
  const sa = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD', ...authority });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: sa.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: 'tok_1' },
  });
  let n = 0;
  const pay = (amount: number, extra: Record<string, unknown> = {}) =>
    engine.authorize(processor.id, {
      authorization_id: `pa_${++n}`,
      credential_reference: 'tok_1',
      amount,
      currency: 'USD',
      merchant: MERCHANT,
      ...extra,
    });
  const intent = async (body: Record<string, unknown> = {}) =>
    engine.validateIntent(org.id, {
      agent_id: agent.id,
      description: 'laptop',
      max_amount: 5000,
      currency: 'USD',
      merchant: MERCHANT,
      expires_at: '2026-11-24T10:00:00.000Z',
      ...body,
    });
  return { engine, clock, org, agent, sa, pay, intent };
}

const spend = suite('an allow-all policy cannot lift an authority or intent rule');

spend('the allow-all policy approves a plain payment (control)', async () => {
  const { pay } = await world();
  const d = await pay(100);
  assert.is(d.action, 'ALLOW');
  assert.equal(d.reason_codes, []);
});

const merchantCases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
  ['blocked MCC', { block_mcc: ['5734'] }, MERCHANT, 'mcc_blocked'],
  ['MCC not on the allow list', { allow_mcc: ['5411'] }, MERCHANT, 'mcc_not_allowed'],
  ['MCC missing with an allow list', { allow_mcc: ['5734'] }, { id: 'mer_1', country: 'US' }, 'mcc_not_allowed'],
  ['blocked merchant', { block_merchant_ids: ['mer_1'] }, MERCHANT, 'merchant_blocked'],
  ['merchant not on the allow list', { allow_merchant_ids: ['mer_2'] }, MERCHANT, 'merchant_not_allowed'],
  ['country not on the allow list', { allow_countries: ['DE'] }, MERCHANT, 'country_not_allowed'],
  [
    'country missing with an allow list',
    { allow_countries: ['US'] },
    { id: 'mer_1', mcc: '5734' },
    'country_not_allowed',
  ],
];
for (const [name, rules, merchant, reason] of merchantCases) {
  spend(`${name} → DENY ${reason}`, async () => {
    const { pay } = await world({ merchant_rules: rules });
    const d = await pay(100, { merchant });
    assert.is(d.action, 'DENY');
    assert.equal(d.reason_codes, [reason]);
  });
}

spend('velocity limit → DENY velocity_limit_exceeded', async () => {
  const { pay } = await world({ velocity: { daily: 1 } });
  assert.is((await pay(100)).action, 'ALLOW');
  const d = await pay(100);
  assert.is(d.action, 'DENY');
  assert.equal(d.reason_codes, ['velocity_limit_exceeded']);
});

spend('authority not yet valid → DENY authority_not_yet_valid', async () => {
  const { pay } = await world({ valid_from: '2026-11-24T00:00:00.000Z' });
  assert.equal((await pay(100)).reason_codes, ['authority_not_yet_valid']);
});

spend('authority expired → DENY authority_expired', async () => {
  const { pay, clock } = await world({ valid_until: '2026-11-23T11:00:00.000Z' });
  clock.set('2026-11-23T11:00:00.000Z');
  assert.equal((await pay(100)).reason_codes, ['authority_expired']);
});

spend('require_intent without an intent → DENY intent_required', async () => {
  const { pay } = await world({ require_intent: true });
  const d = await pay(100);
  assert.is(d.action, 'DENY');
  assert.equal(d.reason_codes, ['intent_required']);
});

spend('unknown intent → DENY intent_not_found', async () => {
  const { pay } = await world();
  assert.equal((await pay(100, { intent_id: 'int_0000000000000000000000000' })).reason_codes, ['intent_not_found']);
});

spend("another agent's intent → DENY intent_not_found", async () => {
  const { engine, org, pay } = await world();
  const other = await engine.createAgent(org.id, { name: 'other' });
  await engine.createAuthority(org.id, { agent_id: other.id, currency: 'USD' });
  const theirs = await engine.validateIntent(org.id, {
    agent_id: other.id,
    description: 'x',
    max_amount: 5000,
    currency: 'USD',
    merchant: MERCHANT,
    expires_at: '2026-11-24T10:00:00.000Z',
  });
  assert.is(theirs.intent.status, 'approved');
  assert.equal((await pay(100, { intent_id: theirs.intent.id })).reason_codes, ['intent_not_found']);
});

spend('intent pending approval → DENY intent_not_approved', async () => {
  const { pay, intent } = await world({ step_up_above: 1000 });
  const i = await intent({ max_amount: 5000 });
  assert.is(i.intent.status, 'pending_approval');
  assert.equal((await pay(100, { intent_id: i.intent.id })).reason_codes, ['intent_not_approved']);
});

spend('cancelled intent → DENY intent_not_approved', async () => {
  const { engine, org, pay, intent } = await world();
  const i = await intent();
  await engine.cancelIntent(org.id, i.intent.id);
  assert.equal((await pay(100, { intent_id: i.intent.id })).reason_codes, ['intent_not_approved']);
});

spend('denied intent → DENY intent_not_approved', async () => {
  const { engine, org, sa, pay, intent } = await world();
  await engine.updateAuthority(org.id, sa.id, { status: 'paused' });
  const i = await intent({ authority_id: sa.id });
  assert.is(i.intent.status, 'denied');
  await engine.updateAuthority(org.id, sa.id, { status: 'active' });
  assert.equal((await pay(100, { intent_id: i.intent.id })).reason_codes, ['intent_not_approved']);
});

spend('expired intent → DENY intent_expired', async () => {
  const { pay, intent, clock } = await world();
  const i = await intent({ expires_at: '2026-11-23T10:30:00.000Z' });
  clock.set('2026-11-23T10:30:00.000Z');
  assert.equal((await pay(100, { intent_id: i.intent.id })).reason_codes, ['intent_expired']);
});

spend('consumed single-use intent → DENY intent_consumed', async () => {
  const { pay, intent } = await world();
  const i = await intent({ single_use: true });
  assert.is((await pay(100, { intent_id: i.intent.id })).action, 'ALLOW');
  assert.equal((await pay(100, { intent_id: i.intent.id })).reason_codes, ['intent_consumed']);
});

spend('amount above the intent → DENY intent_amount_mismatch', async () => {
  const { pay, intent } = await world();
  const i = await intent({ max_amount: 500 });
  assert.equal((await pay(501, { intent_id: i.intent.id })).reason_codes, ['intent_amount_mismatch']);
});

spend('amount above what a multi-use intent has left → DENY intent_amount_mismatch', async () => {
  const { pay, intent } = await world();
  const i = await intent({ max_amount: 500, single_use: false });
  assert.is((await pay(400, { intent_id: i.intent.id })).action, 'ALLOW');
  assert.equal((await pay(101, { intent_id: i.intent.id })).reason_codes, ['intent_amount_mismatch']);
});

spend('other merchant than the intent → DENY intent_merchant_mismatch', async () => {
  const { pay, intent } = await world();
  const i = await intent();
  const d = await pay(100, { intent_id: i.intent.id, merchant: { ...MERCHANT, id: 'mer_2' } });
  assert.equal(d.reason_codes, ['intent_merchant_mismatch']);
});

spend('amount above step_up_above → STEP_UP step_up_required', async () => {
  const { pay } = await world({ step_up_above: 1000 });
  const d = await pay(1001);
  assert.is(d.action, 'STEP_UP');
  assert.is(d.approved_amount, 0);
  assert.equal(d.reason_codes, ['step_up_required']);
  assert.is((await pay(1000)).action, 'ALLOW');
});

spend('an approved intent covers an amount above step_up_above', async () => {
  const { engine, org, pay, intent } = await world({ step_up_above: 1000 });
  const i = await intent({ max_amount: 5000 });
  await engine.approveIntent(org.id, i.intent.id);
  assert.is((await pay(2000, { intent_id: i.intent.id })).action, 'ALLOW');
});

spend('a policy DENY beats the step-up', async () => {
  const no = await constant('{"action": "DENY", "reasons": ["policy:nope"]}');
  const { pay } = await world({ step_up_above: 1000 }, no);
  const d = await pay(2000);
  assert.is(d.action, 'DENY');
  assert.equal(d.reason_codes, ['policy:nope']);
});

spend('the policy may add a step-up and a denial', async () => {
  const stepUp = await constant('{"action": "STEP_UP", "reasons": ["policy:check"]}');
  assert.is((await (await world({}, stepUp)).pay(10)).action, 'STEP_UP');
  const deny = await constant('{"action": "DENY", "reasons": ["policy:never"]}');
  assert.equal((await (await world({}, deny)).pay(10)).reason_codes, ['policy:never']);
});

const partial = suite('partial approval limits hold whatever the policy returns');

spend('daily limit → DENY daily_limit_exceeded (an allow-all policy grants no partial approval)', async () => {
  const { pay } = await world({ limits: { daily: 1000 }, partial_approval: true });
  assert.equal((await pay(1500, { partial_approval_supported: true })).reason_codes, ['daily_limit_exceeded']);
});

partial('a lower amount is honoured when authority and processor allow partial approval', async () => {
  const lower = await constant('{"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:half"], "approved_amount": 500}');
  const { pay } = await world({ partial_approval: true }, lower);
  const d = await pay(1000, { partial_approval_supported: true });
  assert.is(d.action, 'ALLOW_WITH_LIMITS');
  assert.is(d.approved_amount, 500);
});

partial('a lower amount without partial approval on the authority → DENY', async () => {
  const lower = await constant('{"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:half"], "approved_amount": 500}');
  const { pay } = await world({ partial_approval: false }, lower);
  const d = await pay(1000, { partial_approval_supported: true });
  assert.is(d.action, 'DENY');
  assert.is(d.approved_amount, 0);
});

partial('a lower amount the processor cannot take → DENY', async () => {
  const lower = await constant('{"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:half"], "approved_amount": 500}');
  const { pay } = await world({ partial_approval: true }, lower);
  assert.is((await pay(1000, { partial_approval_supported: false })).action, 'DENY');
});

partial('a partial amount above what the window has left → DENY with the window reason', async () => {
  const lower = await constant('{"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:half"], "approved_amount": 900}');
  const { pay } = await world({ partial_approval: true, limits: { daily: 800 } }, lower);
  const d = await pay(1000, { partial_approval_supported: true });
  assert.is(d.action, 'DENY');
  assert.equal(d.reason_codes, ['daily_limit_exceeded']);
});

partial('a partial approval still respects step_up_above of the requested amount', async () => {
  const lower = await constant('{"action": "ALLOW_WITH_LIMITS", "reasons": ["policy:half"], "approved_amount": 500}');
  const { pay } = await world({ partial_approval: true, step_up_above: 800 }, lower);
  assert.is((await pay(1000, { partial_approval_supported: true })).action, 'STEP_UP');
});

const intents = suite('an allow-all intent policy cannot lift an authority rule');

const intentMerchantCases: [string, Record<string, unknown>, string][] = [
  ['blocked MCC', { block_mcc: ['5734'] }, 'mcc_blocked'],
  ['MCC not on the allow list', { allow_mcc: ['5411'] }, 'mcc_not_allowed'],
  ['blocked merchant', { block_merchant_ids: ['mer_1'] }, 'merchant_blocked'],
  ['merchant not on the allow list', { allow_merchant_ids: ['mer_2'] }, 'merchant_not_allowed'],
  ['country not on the allow list', { allow_countries: ['DE'] }, 'country_not_allowed'],
];
for (const [name, rules, reason] of intentMerchantCases) {
  intents(`${name} → intent denied ${reason}`, async () => {
    const { intent } = await world({ merchant_rules: rules });
    const r = await intent();
    assert.is(r.action, 'DENY');
    assert.is(r.intent.status, 'denied');
    assert.equal(r.reason_codes, [reason]);
  });
}

intents('max_amount above step_up_above → pending approval', async () => {
  const { intent } = await world({ step_up_above: 1000 });
  const r = await intent({ max_amount: 1001 });
  assert.is(r.action, 'STEP_UP');
  assert.is(r.intent.status, 'pending_approval');
  assert.equal(r.reason_codes, ['step_up_required']);
});

intents('authority not yet valid → intent denied', async () => {
  const { intent } = await world({ valid_from: '2026-11-24T00:00:00.000Z' });
  assert.equal((await intent()).reason_codes, ['authority_not_yet_valid']);
});

intents('single-use intent above the per-transaction limit → denied', async () => {
  const { intent } = await world({ limits: { per_transaction: 1000 } });
  assert.equal((await intent({ max_amount: 1001, single_use: true })).reason_codes, ['per_transaction_limit_exceeded']);
});

intents('intent above the total budget left → denied', async () => {
  const { intent } = await world({ limits: { total: 1000 } });
  assert.equal((await intent({ max_amount: 1001 })).reason_codes, ['total_limit_exceeded']);
});

spend.run();
partial.run();
intents.run();
