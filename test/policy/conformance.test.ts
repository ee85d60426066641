import { Ajv2020 } from 'ajv/dist/2020.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkPolicyConformance,
  INTENT_CONFORMANCE_CASES,
  SPEND_CONFORMANCE_CASES,
} from '../../src/policy/conformance.js';
import { loadPolicy } from '../../src/policy/runtime.js';
import { readPolicySchema } from '../../src/policy/schemas.js';
import { bundleFrom, defaultBundle } from '../support/policy-bundle.js';

const s = suite('policy conformance cases');

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validSpend = ajv.compile(readPolicySchema('spendInput'));
const validIntent = ajv.compile(readPolicySchema('intentInput'));

s('every case is valid against the documented input schema, names are unique', () => {
  for (const c of SPEND_CONFORMANCE_CASES)
    assert.ok(validSpend(c.input), `${c.name}: ${ajv.errorsText(validSpend.errors)}`);
  for (const c of INTENT_CONFORMANCE_CASES) {
    assert.ok(validIntent(c.input), `${c.name}: ${ajv.errorsText(validIntent.errors)}`);
  }
  const names = [...SPEND_CONFORMANCE_CASES, ...INTENT_CONFORMANCE_CASES].map((c) => c.name);
  assert.is(new Set(names).size, names.length);
  assert.ok(SPEND_CONFORMANCE_CASES.length >= 10 && INTENT_CONFORMANCE_CASES.length >= 5);
});

s('the platform default policies pass every case', async () => {
  assert.equal(checkPolicyConformance(await loadPolicy(await defaultBundle())), []);
});

const intentOk = `package allowance.intent

decision := {"action": "ALLOW", "reasons": []}
`;

s('a policy that throws on weekends fails the weekend cases, naming them', async () => {
  // Two values for one complete rule is a conflict error at run time.
  const spend = `package allowance.spend

weekend if startswith(input.now, "2026-11-28")

weekend if startswith(input.now, "2026-11-29")

decision := {"action": "ALLOW", "reasons": []}

decision := {"action": "DENY", "reasons": ["policy:weekend"]} if weekend
`;
  const problems = checkPolicyConformance(
    await loadPolicy(await bundleFrom({ 'spend.rego': spend, 'intent.rego': intentOk })),
  );
  assert.equal(
    problems.map((p) => [p.input, p.entrypoint, p.code]),
    [
      ['spend_saturday_night', 'allowance/spend/decision', 'policy_evaluation_failed'],
      ['spend_sunday_early', 'allowance/spend/decision', 'policy_evaluation_failed'],
    ],
  );
});

s('a policy that returns nothing or an invalid decision fails with the matching code', async () => {
  const spend = `package allowance.spend

decision := {"action": "ALLOW", "reasons": []} if input.request.amount > 0
`;
  const intent = `package allowance.intent

decision := {"action": "ALLOW_WITH_LIMITS", "reasons": []} if input.request.max_amount > 1000000

decision := {"action": "ALLOW", "reasons": []} if input.request.max_amount <= 1000000
`;
  const problems = checkPolicyConformance(
    await loadPolicy(await bundleFrom({ 'spend.rego': spend, 'intent.rego': intent })),
  );
  assert.equal(
    problems.map((p) => [p.input, p.code]),
    [
      ['spend_zero_amount', 'policy_no_result'],
      ['spend_negative_amount', 'policy_no_result'],
      ['intent_very_large_amount', 'policy_output_invalid'],
    ],
  );
});

s('an approved amount not below the amount is invalid', async () => {
  const spend = `package allowance.spend

decision := {"action": "ALLOW_WITH_LIMITS", "reasons": [], "approved_amount": 1850}
`;
  const problems = checkPolicyConformance(
    await loadPolicy(await bundleFrom({ 'spend.rego': spend, 'intent.rego': intentOk })),
  );
  const codes = new Set(problems.map((p) => p.code));
  assert.equal([...codes], ['policy_output_invalid']);
  assert.ok(problems.some((p) => p.input === 'spend_weekday_basic'));
});

s.run();
