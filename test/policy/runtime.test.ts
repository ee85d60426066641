import { createRequire } from 'node:module';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readPolicyBundle } from '../../src/policy/bundle.js';
import { encodePolicyInput, policyInputJson, sharedInputPart } from '../../src/policy/encode-input.js';
import { isPolicyError, type PolicyErrorCode } from '../../src/policy/errors.js';
import { PolicyHolder } from '../../src/policy/policy-holder.js';
import { type LoadedPolicy, loadPolicy, loadPolicySync } from '../../src/policy/runtime.js';
import { bundleFrom, defaultBundle, TEST_REVISION } from '../support/policy-bundle.js';
import { intentInput, spendInput, usageWindow } from '../support/policy-fixtures.js';

function expectCode(fn: () => unknown, code: PolicyErrorCode): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isPolicyError(err, code), `expected ${code}, got ${String((err as { code?: string }).code ?? err)}`);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

async function expectCodeAsync(fn: () => Promise<unknown>, code: PolicyErrorCode): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.ok(isPolicyError(err, code), `expected ${code}, got ${String((err as { code?: string }).code ?? err)}`);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const s = suite<{ policy: LoadedPolicy }>('runtime', {} as { policy: LoadedPolicy });

s.before(async (ctx) => {
  ctx.policy = loadPolicySync(await defaultBundle());
});

s('records the bundle revision', ({ policy }) => {
  assert.is(policy.revision, TEST_REVISION);
});

s('allows a clean payment', ({ policy }) => {
  assert.equal(policy.evaluateSpend(spendInput()), { action: 'ALLOW', reasons: [] });
});

s('denies with sorted, unique reasons', ({ policy }) => {
  const input = spendInput();
  input.agent.status = 'paused';
  input.request.currency = 'USD';
  input.authority.merchant_rules.block_mcc = ['5411'];
  input.authority.merchant_rules.allow_mcc = ['5812'];
  assert.equal(policy.evaluateSpend(input), {
    action: 'DENY',
    reasons: ['agent_not_active', 'currency_not_allowed', 'mcc_blocked', 'mcc_not_allowed'],
  });
});

s('approves part of the amount when a window is short', ({ policy }) => {
  const input = spendInput();
  input.authority.partial_approval = true;
  input.request.partial_approval_supported = true;
  input.authority.limits.daily = 1500;
  input.usage.daily = usageWindow(800, 1);
  assert.equal(policy.evaluateSpend(input), {
    action: 'ALLOW_WITH_LIMITS',
    reasons: ['partially_approved'],
    approved_amount: 700,
  });
});

s('asks for step-up above the threshold unless an intent covers the payment', ({ policy }) => {
  const input = spendInput();
  input.authority.step_up_above = 500;
  assert.equal(policy.evaluateSpend(input), { action: 'STEP_UP', reasons: ['step_up_required'] });
  input.request.intent_id = 'int_1';
  input.intent = {
    id: 'int_1',
    agent_id: 'agt_1',
    status: 'approved',
    max_amount: 1000,
    currency: 'EUR',
    consumed_amount: 0,
    merchant: { mcc: '5411' },
    expires_at: '2026-11-24T00:00:00.000Z',
    single_use: true,
  };
  assert.equal(policy.evaluateSpend(input), { action: 'ALLOW', reasons: [] });
});

s('evaluates intents', ({ policy }) => {
  const input = intentInput();
  assert.equal(policy.evaluateIntent(input), { action: 'ALLOW', reasons: [] });
  input.authority.step_up_above = 10;
  assert.equal(policy.evaluateIntent(input), { action: 'STEP_UP', reasons: ['step_up_required'] });
  input.request.expires_at = input.now;
  assert.equal(policy.evaluateIntent(input), { action: 'DENY', reasons: ['intent_expired'] });
});

s('loads asynchronously from extracted parts', async () => {
  const policy = await loadPolicy(readPolicyBundle(await defaultBundle()));
  assert.is(policy.revision, TEST_REVISION);
  assert.is(policy.evaluateSpend(spendInput()).action, 'ALLOW');
});

s.run();

// ---

const t = suite('input encoding');

t('encodes to an ArrayBuffer of exactly the JSON length, non-ASCII included', () => {
  const input = { name: 'Café ü €', n: 1 };
  const buffer = encodePolicyInput(input);
  assert.ok(buffer instanceof ArrayBuffer);
  const expected = new TextEncoder().encode(JSON.stringify(input));
  assert.is(buffer.byteLength, expected.byteLength);
  assert.equal(new Uint8Array(buffer), expected);
});

t('an input with shared parts encodes to the text of JSON.stringify', () => {
  const agent = sharedInputPart({ id: 'agt_1', status: 'active', metadata: { team: 'ops', note: 'ü "q"' } });
  const authority = sharedInputPart({ id: 'sa_1', limits: { daily: 10, weekly: null }, gone: undefined });
  const inputs: unknown[] = [
    { version: '1', agent, authority, usage: { daily: { spent: 1, count: 2 } }, intent: null },
    { authority, skipped: undefined, fn: () => 1, agent, list: [agent, undefined], 'odd "key"': agent },
    { agent: { ...agent }, authority },
    {},
    { only: undefined },
    [agent, authority],
    { toJSON: () => ({ replaced: agent }) },
    null,
    'text',
    42,
  ];
  for (const input of inputs) {
    // Twice: the shared parts' JSON is written on the first and reused on the second.
    for (let i = 0; i < 2; i++) {
      assert.is(policyInputJson(input), JSON.stringify(input));
      assert.equal(new Uint8Array(encodePolicyInput(input)), new TextEncoder().encode(JSON.stringify(input)));
    }
  }
});

t('the JSON of a shared part is written once, not on every evaluation', () => {
  let reads = 0;
  const part = sharedInputPart({
    get limits() {
      reads++;
      return { daily: 10 };
    },
  });
  for (let i = 0; i < 5; i++) policyInputJson({ request: { amount: i }, authority: part });
  assert.is(reads, 1);
  assert.ok(Object.isFrozen(part));
  // Not shared: read on every encoding.
  const plain = {
    get limits() {
      reads++;
      return { daily: 10 };
    },
  };
  for (let i = 0; i < 5; i++) policyInputJson({ authority: plain });
  assert.is(reads, 6);
});

t('the SDK misreads a Node Buffer, which is why inputs are encoded to an ArrayBuffer', async () => {
  const sdk = createRequire(import.meta.url)(
    '@open-policy-agent/opa-wasm',
  ) as typeof import('@open-policy-agent/opa-wasm');
  const raw = sdk.loadPolicySync(readPolicyBundle(await defaultBundle()).wasm);
  raw.setData({});
  const input = spendInput();
  input.agent.status = 'revoked';
  const json = JSON.stringify(input);
  const viaArrayBuffer = raw.evaluate(encodePolicyInput(input), 'allowance/spend/decision');
  assert.equal(viaArrayBuffer[0].result, { action: 'DENY', reasons: ['agent_not_active'] });
  // A Buffer is stringified as {"type":"Buffer","data":[...]}: the policy sees no agent
  // and, having nothing to deny, allows.
  const viaBuffer = raw.evaluate(Buffer.from(json), 'allowance/spend/decision');
  assert.equal(viaBuffer[0].result, { action: 'ALLOW', reasons: [] });
});

t.run();

// ---

const e = suite('runtime errors');

e('garbage is rejected as bundle_invalid', () => {
  expectCode(() => loadPolicySync(new Uint8Array([1, 2, 3, 4])), 'bundle_invalid');
});

e('a module that is not WASM fails to load', async () => {
  const bundle = readPolicyBundle(await defaultBundle());
  const broken = new Uint8Array(bundle.wasm.subarray(0, 64));
  expectCode(() => loadPolicySync({ ...bundle, wasm: broken }), 'policy_load_failed');
  await expectCodeAsync(() => loadPolicy({ ...bundle, wasm: broken }), 'policy_load_failed');
});

e('policies without the entry points fail to build', async () => {
  const bytes = await bundleFrom({ 'x.rego': 'package other\n\nx := 1\n' }).catch((err: unknown) => err);
  // opa refuses to build entry points that do not exist: the build already fails.
  assert.ok(isPolicyError(bytes, 'policy_build_failed'));
});

const rules = (spend: string, intent = 'decision := {"action": "ALLOW", "reasons": []}') => ({
  'spend.rego': `package allowance.spend\n\n${spend}\n`,
  'intent.rego': `package allowance.intent\n\n${intent}\n`,
});

e('an undefined decision is policy_no_result, never an allow', async () => {
  const policy = loadPolicySync(
    await bundleFrom(rules('decision := {"action": "ALLOW", "reasons": []} if input.never')),
  );
  expectCode(() => policy.evaluateSpend(spendInput()), 'policy_no_result');
  assert.is(policy.evaluateIntent(intentInput()).action, 'ALLOW');
});

e('a decision outside the output schema is policy_output_invalid', async () => {
  const policy = loadPolicySync(
    await bundleFrom(
      rules(
        'decision := {"action": "MAYBE", "reasons": []}',
        'decision := {"action": "ALLOW", "reasons": [], "approved_amount": 5}',
      ),
    ),
  );
  expectCode(() => policy.evaluateSpend(spendInput()), 'policy_output_invalid');
  expectCode(() => policy.evaluateIntent(intentInput()), 'policy_output_invalid');
});

e('an approved amount not below the request is policy_output_invalid', async () => {
  const policy = loadPolicySync(
    await bundleFrom(
      rules('decision := {"action": "ALLOW_WITH_LIMITS", "reasons": ["partially_approved"], "approved_amount": 1000}'),
    ),
  );
  expectCode(() => policy.evaluateSpend(spendInput()), 'policy_output_invalid');
});

e('a runtime conflict in the module is policy_evaluation_failed', async () => {
  const policy = loadPolicySync(
    await bundleFrom(
      rules(
        'decision := {"action": "ALLOW", "reasons": []} if input.version == "1"\n\ndecision := {"action": "DENY", "reasons": ["x"]} if input.now',
      ),
    ),
  );
  expectCode(() => policy.evaluateSpend(spendInput()), 'policy_evaluation_failed');
});

e.run();

// ---

const h = suite('PolicyHolder');

h('swaps the active policy and keeps a consistent snapshot', async () => {
  const first = loadPolicySync(await defaultBundle());
  const second = loadPolicySync(
    await bundleFrom(rules('decision := {"action": "DENY", "reasons": ["policy:closed"]}'), 'r2'),
  );
  const holder = new PolicyHolder();
  assert.is(holder.current(), undefined);
  assert.is(holder.setShadow(second), false);
  holder.activate(first);
  const before = holder.snapshot();
  holder.activate(second, first);
  assert.is(holder.current(), second);
  assert.is(holder.snapshot()?.shadow, first);
  assert.is(before?.active, first);
  assert.is(before?.shadow, undefined);
  assert.equal(holder.current()?.evaluateSpend(spendInput()), { action: 'DENY', reasons: ['policy:closed'] });
  holder.setShadow(undefined);
  assert.is(holder.snapshot()?.shadow, undefined);
  assert.is(holder.current(), second);
});

h.run();
