import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine } from '../../src/engine/index.js';
import { type LoadedPolicy, loadPolicy, PolicyHolder } from '../../src/policy/index.js';
import { buildPolicyBundle } from '../../src/policy-build/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { POLICY_DIR } from '../support/policy-bundle.js';

async function compile(revision: string, spend: string): Promise<LoadedPolicy> {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-custom-'));
  await writeFile(join(dir, 'policy.rego'), `package allowance.spend\n\n${spend}\n`);
  await writeFile(
    join(dir, 'intent.rego'),
    'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  );
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-custom-out-')), 'bundle.tar.gz');
  await buildPolicyBundle({
    sourceDir: dir,
    outFile: out,
    revision,
    capabilities: join(POLICY_DIR, 'capabilities.json'),
  });
  return loadPolicy(new Uint8Array(await readFile(out)));
}

const custom = suite('custom policies');

async function world(policy: LoadedPolicy | PolicyHolder, authority: Record<string, unknown>) {
  const engine = createEngine({ store: new MemoryAdapter(), policy, clock: new ManualClock('2026-11-23T10:00:00Z') });
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
      merchant: { mcc: '5734' },
      ...extra,
    });
  return { engine, org, sa, pay };
}

custom('a policy that allows everything cannot loosen the engine limits', async () => {
  const yes = await compile('allow-all', 'decision := {"action": "ALLOW", "reasons": []}');
  const { engine, org, sa, pay } = await world(yes, { limits: { per_transaction: 1000, daily: 1500 } });
  assert.equal((await pay(1001)).reason_codes, ['per_transaction_limit_exceeded']);
  assert.equal((await pay(900, { currency: 'EUR' })).reason_codes, ['currency_not_allowed']);
  assert.equal((await pay(0)).reason_codes, ['amount_invalid']);
  assert.is((await pay(1000)).action, 'ALLOW');
  assert.equal((await pay(600)).reason_codes, ['daily_limit_exceeded']);
  await engine.updateAuthority(org.id, sa.id, { status: 'paused' });
  assert.equal((await pay(10)).reason_codes, ['authority_not_active']);
});

custom('a custom policy adds its own reasons; a broken one is an error, never an allow', async () => {
  const weekend = await compile(
    'custom-reasons',
    'decision := {"action": "DENY", "reasons": ["policy:no_software"]} if input.request.merchant.mcc == "5734"\n' +
      'else := {"action": "ALLOW", "reasons": []}',
  );
  const { pay } = await world(weekend, {});
  assert.equal((await pay(10)).reason_codes, ['policy:no_software']);
  const nothing = await compile('no-result', 'decision := {"action": "ALLOW", "reasons": []} if input.never');
  const broken = await world(nothing, {});
  const err = await broken.pay(10).catch((e) => e);
  assert.is(err.code, 'policy_no_result');
  const liar = await compile('bad-output', 'decision := {"action": "MAYBE", "reasons": []}');
  const bad = await world(liar, {});
  assert.is((await bad.pay(10).catch((e) => e)).code, 'policy_output_invalid');
});

custom('activating a bundle in the holder swaps every later decision atomically', async () => {
  const strict = await compile('strict', 'decision := {"action": "DENY", "reasons": ["policy:closed"]}');
  const holder = new PolicyHolder(await defaultPolicy());
  const { pay } = await world(holder, {});
  const before = await pay(10);
  assert.is(before.action, 'ALLOW');
  assert.is(before.policy_revision, 'test-revision');
  holder.activate(strict);
  const after = await pay(10);
  assert.equal(after.reason_codes, ['policy:closed']);
  assert.is(after.policy_revision, 'strict');
});

custom('a shadow policy is evaluated and logged but never decides', async () => {
  const strict = await compile('shadow-strict', 'decision := {"action": "DENY", "reasons": ["policy:closed"]}');
  const logs: Record<string, unknown>[] = [];
  const holder = new PolicyHolder(await defaultPolicy(), strict);
  const engine = createEngine({
    store: new MemoryAdapter(),
    policy: holder,
    logger: { info: (event, f) => logs.push({ event, ...f }), warn() {}, error() {} },
  });
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'P' });
  const agent = await engine.createAgent(org.id, { name: 'a' });
  const sa = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD' });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: sa.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: 't' },
  });
  const d = await engine.authorize(processor.id, {
    authorization_id: 'pa_1',
    credential_reference: 't',
    amount: 5,
    currency: 'USD',
    merchant: {},
  });
  assert.is(d.action, 'ALLOW');
  const shadow = logs.find((l) => l.event === 'shadow_decision');
  assert.ok(shadow);
  assert.is(shadow?.shadow_action, 'DENY');
  assert.is(shadow?.differs, true);
  assert.is(shadow?.shadow_revision, 'shadow-strict');
});

custom.run();
