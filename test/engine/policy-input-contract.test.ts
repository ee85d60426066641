import { Ajv2020 } from 'ajv/dist/2020.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine } from '../../src/engine/index.js';
import type { IntentPolicyInput, LoadedPolicy, SpendPolicyInput } from '../../src/policy/index.js';
import { readPolicySchema } from '../../src/policy/schemas.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';

const ajv = new Ajv2020({ strictTypes: false });
const validateSpend = ajv.compile(readPolicySchema('spendInput'));
const validateIntent = ajv.compile(readPolicySchema('intentInput'));

const contract = suite('policy input contract');

contract('every input the engine builds validates against the published schemas', async () => {
  const real = await defaultPolicy();
  const spend: SpendPolicyInput[] = [];
  const intents: IntentPolicyInput[] = [];
  const spy: LoadedPolicy = {
    revision: real.revision,
    manifest: real.manifest,
    evaluateSpend: (input) => {
      spend.push(structuredClone(input));
      return real.evaluateSpend(input);
    },
    evaluateIntent: (input) => {
      intents.push(structuredClone(input));
      return real.evaluateIntent(input);
    },
  };
  const engine = createEngine({
    store: new MemoryAdapter(),
    policy: spy,
    clock: new ManualClock('2026-11-23T10:00:00Z'),
  });
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'P' });
  const agent = await engine.createAgent(org.id, {
    name: 'buyer',
    owner: 'ops@acme.example',
    model_provider: 'acme-ai',
    model_name: 'm-1',
    framework: 'custom',
    metadata: { team: 'procurement', 'cost.center': '42' },
  });
  const sa = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    time_zone: 'Europe/Berlin',
    limits: { per_transaction: 10_000, daily: 20_000, total: null },
    velocity: { daily: 50 },
    merchant_rules: { allow_countries: ['US', 'DE'], block_mcc: ['7995'] },
    valid_from: '2026-01-01T00:00:00+01:00',
    valid_until: '2027-01-01T00:00:00Z',
    step_up_above: 8_000,
    partial_approval: true,
  });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: sa.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: 'tok_1', last4: '4242', fingerprint: 'fp_1' },
  });
  const { intent } = await engine.validateIntent(org.id, {
    agent_id: agent.id,
    description: 'monitor',
    max_amount: 9_000,
    currency: 'USD',
    merchant: { id: 'm_1', country: 'DE' },
    expires_at: '2026-11-24T00:00:00Z',
    single_use: false,
  });
  let n = 0;
  const pay = (extra: Record<string, unknown>) =>
    engine.authorize(processor.id, {
      authorization_id: `pa_${++n}`,
      credential_reference: 'tok_1',
      amount: 1_000,
      currency: 'USD',
      merchant: { id: 'm_1', name: 'Shop', mcc: '5732', country: 'DE' },
      ...extra,
    });
  await pay({});
  await pay({ intent_id: intent.id, amount: 8_500 });
  await pay({ amount: 15_000, partial_approval_supported: true, channel: 'recurring' });
  await pay({ merchant: {}, currency: 'EUR', amount: -1 });
  await pay({ intent_id: 'int_01m83xj880aaaaaaaaaaaaaaaa' });
  assert.is(spend.length, 5);
  assert.is(intents.length, 1);
  for (const input of spend) assert.ok(validateSpend(input), ajv.errorsText(validateSpend.errors));
  for (const input of intents) assert.ok(validateIntent(input), ajv.errorsText(validateIntent.errors));
  assert.is(spend[0]?.now, '2026-11-23T10:00:00.000Z');
  assert.is(spend[0]?.authority.valid_from, '2025-12-31T23:00:00.000Z', 'times reach policies normalized to UTC');
  assert.equal(spend[1]?.intent?.id, intent.id);
});

contract.run();
