import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type LoadedPolicy, loadPolicySync } from '../../src/policy/runtime.js';
import { readPolicySchema } from '../../src/policy/schemas.js';
import type { PolicyDecision } from '../../src/policy/types.js';
import { runOpa } from '../../src/policy-build/index.js';
import { defaultBundle, policySources } from '../support/policy-bundle.js';
import { randomIntentInputs, randomSpendInputs } from '../support/random-inputs.js';

const SPEND_REASONS = [
  'agent_not_active',
  'binding_not_active',
  'authority_not_active',
  'authority_not_yet_valid',
  'authority_expired',
  'currency_not_allowed',
  'amount_invalid',
  'mcc_blocked',
  'mcc_not_allowed',
  'merchant_blocked',
  'merchant_not_allowed',
  'country_not_allowed',
  'per_transaction_limit_exceeded',
  'velocity_limit_exceeded',
  'daily_limit_exceeded',
  'weekly_limit_exceeded',
  'monthly_limit_exceeded',
  'total_limit_exceeded',
  'intent_not_found',
  'intent_consumed',
  'intent_expired',
  'intent_not_approved',
  'intent_amount_mismatch',
  'intent_merchant_mismatch',
  'intent_required',
  'step_up_required',
  'partially_approved',
];

const INTENT_REASONS = [
  'agent_not_active',
  'authority_not_active',
  'authority_not_yet_valid',
  'authority_expired',
  'currency_not_allowed',
  'amount_invalid',
  'mcc_blocked',
  'mcc_not_allowed',
  'merchant_blocked',
  'merchant_not_allowed',
  'country_not_allowed',
  'intent_expired',
  'per_transaction_limit_exceeded',
  'total_limit_exceeded',
  'step_up_required',
];

/** Evaluates every input with `opa eval` on the Rego sources, in one process. */
async function oracle(pkg: 'spend' | 'intent', inputs: unknown[]): Promise<PolicyDecision[]> {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-oracle-'));
  const file = join(dir, 'inputs.json');
  await writeFile(file, JSON.stringify(inputs));
  const args = ['eval', '-f', 'json', '--input', file];
  for (const source of await policySources()) args.push('-d', source);
  args.push(`[d | some i in input; d := data.allowance.${pkg}.decision with input as i]`);
  const { stdout } = await runOpa(args);
  const out = JSON.parse(stdout) as { result: { expressions: { value: PolicyDecision[] }[] }[] };
  const value = out.result[0]?.expressions[0]?.value;
  assert.ok(Array.isArray(value), 'oracle returned no result');
  return value;
}

function coverage(decisions: PolicyDecision[]): { actions: Set<string>; reasons: Set<string> } {
  return {
    actions: new Set(decisions.map((d) => d.action)),
    reasons: new Set(decisions.flatMap((d) => d.reasons)),
  };
}

const ajv = new Ajv2020({ strictTypes: false });
const validateSpend = ajv.compile(readPolicySchema('spendInput'));
const validateIntent = ajv.compile(readPolicySchema('intentInput'));

const s = suite<{ policy: LoadedPolicy }>('differential: WASM runtime vs opa eval', {} as { policy: LoadedPolicy });

s.before(async (ctx) => {
  ctx.policy = loadPolicySync(await defaultBundle());
});

s('spend: 1,500 seeded inputs decide identically', async ({ policy }) => {
  const inputs = randomSpendInputs(1500, 20261123);
  for (const [i, input] of inputs.entries()) {
    assert.ok(validateSpend(input), `spend input ${i} breaks the schema: ${ajv.errorsText(validateSpend.errors)}`);
  }
  const expected = await oracle('spend', inputs);
  assert.is(expected.length, inputs.length);
  const actual = inputs.map((input) => policy.evaluateSpend(input));
  for (let i = 0; i < inputs.length; i++) {
    assert.equal(actual[i], expected[i], `spend input ${i}: ${JSON.stringify(inputs[i])}`);
  }
  const seen = coverage(actual);
  assert.equal([...seen.actions].sort(), ['ALLOW', 'ALLOW_WITH_LIMITS', 'DENY', 'STEP_UP']);
  const missing = SPEND_REASONS.filter((r) => !seen.reasons.has(r));
  assert.equal(missing, [], `reasons never produced: ${missing.join(', ')}`);
});

s('intent: 500 seeded inputs decide identically', async ({ policy }) => {
  const inputs = randomIntentInputs(500, 7);
  for (const [i, input] of inputs.entries()) {
    assert.ok(validateIntent(input), `intent input ${i} breaks the schema: ${ajv.errorsText(validateIntent.errors)}`);
  }
  const expected = await oracle('intent', inputs);
  const actual = inputs.map((input) => policy.evaluateIntent(input));
  for (let i = 0; i < inputs.length; i++) {
    assert.equal(actual[i], expected[i], `intent input ${i}: ${JSON.stringify(inputs[i])}`);
  }
  const seen = coverage(actual);
  assert.equal([...seen.actions].sort(), ['ALLOW', 'DENY', 'STEP_UP']);
  const missing = INTENT_REASONS.filter((r) => !seen.reasons.has(r));
  assert.equal(missing, [], `reasons never produced: ${missing.join(', ')}`);
});

s.run();
