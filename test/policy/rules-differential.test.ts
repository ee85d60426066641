import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateRules } from '../../src/http/rules-service.js';
import { buildRulesBundle, loadPolicy, RULES_DATA_KEY } from '../../src/policy/index.js';
import type { PolicyDecision, SpendPolicyInput } from '../../src/policy/types.js';
import { runOpa } from '../../src/policy-build/index.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { policySources } from '../support/policy-bundle.js';
import { randomSpendInputs, seededRandom } from '../support/random-inputs.js';

const MCCS = ['5411', '5812', '7995'];
const COUNTRIES = ['DE', 'FR', 'US'];
const MERCHANTS = ['m_1', 'm_2', 'm_3'];
const WINDOWS = ['daily', 'weekly', 'monthly', 'total'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Seeded random rules over the values the random inputs use, every condition and action represented. */
function randomRules(count: number, seed: number): Record<string, unknown>[] {
  const rnd = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
  const int = (min: number, max: number) => min + Math.floor(rnd() * (max - min + 1));
  const list = (values: readonly string[]) => ({ [rnd() < 0.6 ? 'in' : 'not_in']: [pick(values)] });
  const clock = () => `${String(int(0, 23)).padStart(2, '0')}:${pick(['00', '30'])}`;
  const rules: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const conditions: Record<string, unknown> = {};
    const makers: (() => void)[] = [
      () => {
        conditions.amount = rnd() < 0.5 ? { gte: int(0, 3000) } : { lte: int(500, 6000) };
      },
      () => {
        conditions.currency = list(['EUR', 'USD']);
      },
      () => {
        conditions.mcc = list(MCCS);
      },
      () => {
        conditions.merchant = list(MERCHANTS);
      },
      () => {
        conditions.country = list(COUNTRIES);
      },
      () => {
        conditions.agent = list(['agt_1', 'agt_2']);
      },
      () => {
        conditions.weekdays = [...new Set([pick(DAYS), pick(DAYS)])];
      },
      () => {
        let from = clock();
        let to = clock();
        while (to === from) to = clock();
        if (rnd() < 0.3) [from, to] = [to, from];
        conditions.time_of_day = { from, to };
      },
      () => {
        conditions.velocity =
          rnd() < 0.5
            ? { window: pick(WINDOWS), count_above: int(0, 6) }
            : { window: pick(WINDOWS), spent_above: int(0, 8000) };
      },
    ];
    for (let n = int(0, 2); n > 0; n--) pick(makers)();
    const type = pick(['allow', 'deny', 'deny', 'require_approval', 'throttle']);
    const action: Record<string, unknown> = { type };
    if (type === 'throttle') action.rate = { count: int(1, 6), window: pick(WINDOWS) };
    if (type !== 'allow' && rnd() < 0.2) action.reason = `custom_${i}`;
    rules.push({ id: `r${i}`, priority: int(0, 5), is_active: rnd() < 0.85, conditions, action });
  }
  return rules;
}

/** Evaluates every input with `opa eval` on the Rego sources and the rules as data. */
async function oracle(rules: unknown[], inputs: unknown[]): Promise<PolicyDecision[]> {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-rules-oracle-'));
  await writeFile(join(dir, 'inputs.json'), JSON.stringify(inputs));
  await writeFile(join(dir, 'data.json'), JSON.stringify({ [RULES_DATA_KEY]: { base_revision: 'x', rules } }));
  const args = ['eval', '-f', 'json', '--input', join(dir, 'inputs.json'), '-d', join(dir, 'data.json')];
  for (const source of await policySources()) args.push('-d', source);
  args.push('[d | some i in input; d := data.allowance.spend.decision with input as i]');
  const { stdout } = await runOpa(args);
  const out = JSON.parse(stdout) as { result: { expressions: { value: PolicyDecision[] }[] }[] };
  const value = out.result[0]?.expressions[0]?.value;
  assert.ok(Array.isArray(value), 'oracle returned no result');
  return value;
}

const s = suite('rules differential: WASM runtime vs opa eval');

s('1,000 seeded inputs over seeded rule sets decide identically', async () => {
  const base = await defaultPolicy();
  if (!base.source) throw new Error('the base keeps no source');
  const rnd = seededRandom(99);
  const inputs: SpendPolicyInput[] = randomSpendInputs(1000, 20261130).map((input) => ({
    ...input,
    local_time: { weekday: 1 + Math.floor(rnd() * 7), minute_of_day: Math.floor(rnd() * 1440) },
  }));
  const seen = new Set<string>();
  for (const seed of [1, 2, 3, 4]) {
    const rules = validateRules({ rules: randomRules(12, seed) });
    const policy = await loadPolicy((await buildRulesBundle(base.source, rules)).bytes);
    const expected = await oracle(rules, inputs);
    for (let i = 0; i < inputs.length; i++) {
      const actual = policy.evaluateSpend(inputs[i] as SpendPolicyInput);
      assert.equal(actual, expected[i], `rules seed ${seed}, input ${i}: ${JSON.stringify(inputs[i])}`);
      seen.add(`${actual.action}:${actual.reasons.join()}`);
    }
  }
  for (const outcome of ['ALLOW:', 'DENY:rule_denied', 'STEP_UP:rule_requires_approval', 'DENY:rule_throttled']) {
    assert.ok(seen.has(outcome), `never produced ${outcome}: ${[...seen].join(' ')}`);
  }
  assert.ok(
    [...seen].some((o) => o.includes('custom_')),
    'a custom reason was produced',
  );
});

s.run();
