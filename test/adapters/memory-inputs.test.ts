import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine } from '../../src/engine/index.js';
import type { SpendPolicyInput } from '../../src/policy/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';

/** An engine on a memory store whose policy records every spend input it evaluates. */
async function recordingWorld() {
  const store = new MemoryAdapter();
  const policy = await defaultPolicy();
  const seen: string[] = [];
  const recording = {
    revision: policy.revision,
    manifest: policy.manifest,
    evaluateSpend(input: SpendPolicyInput) {
      seen.push(JSON.stringify(input));
      return policy.evaluateSpend(input);
    },
    evaluateIntent: policy.evaluateIntent.bind(policy),
  };
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  const engine = createEngine({ store, policy: recording, clock });
  await engine.init();
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'Processor One' });
  const agent = await engine.createAgent(org.id, { name: 'buyer', model_provider: 'acme-ai' });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 50_000, daily: 100_000, weekly: 300_000, monthly: 1_000_000, total: 5_000_000 },
  });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference: 'tok_inputs', last4: '4242' },
  });
  let n = 0;
  const request = (overrides: Record<string, unknown> = {}) => ({
    authorization_id: `pa_inputs_${++n}`,
    credential_reference: 'tok_inputs',
    amount: 1850,
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
    ...overrides,
  });
  return { store, engine, clock, org, processor, agent, seen, request };
}

const inputs = suite('memory store: a stored policy input is rebuilt exactly');

inputs('every read returns the input the policy evaluated: same keys, same order, same values', async () => {
  const w = await recordingWorld();
  const intent = await w.engine.validateIntent(w.org.id, {
    agent_id: w.agent.id,
    description: 'A keyboard',
    max_amount: 5000,
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'US' },
    expires_at: '2026-11-24T10:00:00Z',
  });
  const bodies = [
    w.request(),
    w.request({ amount: 60_000 }),
    w.request({ intent_id: intent.intent.id, amount: 4000, merchant: { id: 'mer_3c7a1b9f', mcc: '5734' } }),
    w.request({ channel: 'in_store', partial_approval_supported: true }),
  ];
  const evaluated = new Map<string, string>();
  for (const body of bodies) {
    w.clock.advance(61_000);
    const before = w.seen.length;
    const d = await w.engine.authorize(w.processor.id, body);
    assert.is(w.seen.length, before + 1, 'one evaluation per decision');
    evaluated.set(d.authorization_id, w.seen[before] as string);
  }
  const check = (r: AuthorizationRecord | null | undefined, where: string) => {
    assert.ok(r, where);
    assert.is(JSON.stringify(r.policy_input), evaluated.get(r.authorization_id), `${where}: the evaluated input`);
    const input = r.policy_input as SpendPolicyInput;
    assert.ok(Object.isFrozen(input) && Object.isFrozen(input.request) && Object.isFrozen(input.usage.daily));
  };
  for (const body of bodies) {
    const id = body.authorization_id;
    const first = await w.store.getAuthorization(w.processor.id, id);
    check(first, 'getAuthorization');
    check(w.store.inspectAuthorization(w.processor.id, id), 'inspectAuthorization');
    // Rebuilt on every read: the store keeps the per-request values, not the input's objects.
    const again = await w.store.getAuthorization(w.processor.id, id);
    assert.ok(again?.policy_input !== first?.policy_input);
    // What inputs share stays shared.
    const a = first?.policy_input as SpendPolicyInput;
    const b = again?.policy_input as SpendPolicyInput;
    assert.ok(a.agent === b.agent && a.authority === b.authority && a.binding === b.binding);
  }
  for (const r of (await w.store.listAuthorizations(w.org.id, { limit: 10 })).items) check(r, 'listAuthorizations');
  const scanned = w.store.scanAuthorizations(w.org.id, {
    from: '2026-11-23T00:00:00.000Z',
    to: '2026-11-24T00:00:00.000Z',
    limit: 10,
  });
  assert.is(scanned.items.length, bodies.length);
  for (const r of scanned.items) check(r, 'scanAuthorizations (replay)');
  const withIntent = JSON.parse(evaluated.get(bodies[2]?.authorization_id as string) as string);
  assert.is(withIntent.intent.id, intent.intent.id, 'the input with an intent was among them');
});

inputs('an input of another shape is kept as it is', async () => {
  const store = new MemoryAdapter();
  const now = '2026-11-23T10:00:00.000Z';
  const base = {
    processor_id: 'prc_1',
    org_id: 'org_1',
    status: 'pending' as const,
    request_sha256: 'a'.repeat(64),
    reservation_id: 'rsv_1',
    attempt: 1,
    lease_until: null,
    agent_id: null,
    authority_id: null,
    intent_id: null,
    amount: 100,
    approved_amount: 0,
    captured_amount: 0,
    currency: 'USD',
    hold_open: false,
    hold_expires_at: null,
    decision: null,
    version: 0,
    created_at: now,
    updated_at: now,
  };
  const odd = [
    { version: '2', request: { amount: 1 } },
    { version: '1', now, org: { id: 'org_1' }, request: { amount: 1 } },
    ['not', 'an', 'object'],
    'a string',
    null,
  ];
  for (const [i, policy_input] of odd.entries()) {
    await store.claimAuthorization({ ...base, authorization_id: `pa_${i}`, policy_input });
    const read = await store.getAuthorization('prc_1', `pa_${i}`);
    assert.equal(read?.policy_input, policy_input);
  }
});

inputs.run();
