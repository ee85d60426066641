import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine, type PolicySet } from '../../src/engine/index.js';
import { type LoadedPolicy, loadPolicy, PolicyError } from '../../src/policy/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { bundleFrom } from '../support/policy-bundle.js';
import { ALLOW_INTENT } from '../support/policy-uploads.js';

const org = suite('engine: an org policy layered on the base');

function failing(revision: string): LoadedPolicy {
  const fail = (): never => {
    throw new PolicyError('policy_evaluation_failed', 'boom');
  };
  return { revision, manifest: { revision }, evaluateSpend: fail, evaluateIntent: fail };
}

async function world(orgPolicy: LoadedPolicy | null) {
  const base = await defaultPolicy();
  const errors: Record<string, unknown>[] = [];
  const set: PolicySet = { active: base, shadow: null, org: orgPolicy, orgShadow: null };
  const engine = createEngine({
    store: new MemoryAdapter(),
    policy: { forOrg: () => set },
    clock: new ManualClock('2026-11-23T10:00:00.000Z'),
    logger: { info() {}, warn() {}, error: (_e, fields) => errors.push(fields) },
  });
  await engine.init();
  const o = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'P' });
  const agent = await engine.createAgent(o.id, { name: 'a' });
  const sa = await engine.createAuthority(o.id, { agent_id: agent.id, currency: 'USD', step_up_above: 5000 });
  await engine.createBinding(o.id, {
    agent_id: agent.id,
    authority_id: sa.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: 'tok_1' },
  });
  let n = 0;
  const pay = (amount: number) =>
    engine.authorize(processor.id, {
      authorization_id: `pa_${++n}`,
      credential_reference: 'tok_1',
      amount,
      currency: 'USD',
      merchant: { id: 'mer_1', mcc: '5734', country: 'US' },
    });
  return { engine, pay, errors, orgId: o.id, agentId: agent.id };
}

org('an org policy that throws is DENY policy_error, logged with its revision and counted', async () => {
  const { engine, pay, errors } = await world(failing('org-broken'));
  const d = await pay(100);
  assert.is(d.action, 'DENY');
  assert.equal(d.reason_codes, ['policy_error']);
  assert.is(d.org_policy_revision, 'org-broken');
  assert.is(engine.context.stats.orgPolicyErrors, 1);
  assert.is(errors[0]?.revision, 'org-broken');
});

org('with no org policy the base decides and org_policy_revision is null', async () => {
  const { pay } = await world(null);
  const d = await pay(100);
  assert.is(d.action, 'ALLOW');
  assert.is(d.org_policy_revision, null);
});

org('an allowing org policy cannot lift the base step-up; a denying one adds its reason', async () => {
  const allow = await loadPolicy(
    await bundleFrom(
      {
        'spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
        'intent.rego': ALLOW_INTENT,
      },
      'org-allow',
    ),
  );
  assert.is((await (await world(allow)).pay(6000)).action, 'STEP_UP');
  const deny = await loadPolicy(
    await bundleFrom(
      {
        'spend.rego': 'package allowance.spend\n\ndecision := {"action": "DENY", "reasons": ["over_budget"]}\n',
        'intent.rego': 'package allowance.intent\n\ndecision := {"action": "DENY", "reasons": ["no_intents"]}\n',
      },
      'org-deny',
    ),
  );
  const w = await world(deny);
  const d = await w.pay(100);
  assert.equal(d.reason_codes, ['policy:over_budget']);
  assert.is(d.org_policy_revision, 'org-deny');
  const intent = await w.engine.validateIntent(w.orgId, {
    agent_id: w.agentId,
    description: 'x',
    max_amount: 100,
    currency: 'USD',
    merchant: { id: 'mer_1' },
    expires_at: '2026-11-24T10:00:00.000Z',
  });
  assert.is(intent.action, 'DENY');
  assert.equal(intent.reason_codes, ['policy:no_intents']);
});

org.run();
