import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { createEngine, redecide, ShadowRecorder, SYNC_REPLAY_MAX } from '../../src/engine/index.js';
import { layerDecisions, POLICY_ERROR_REASON } from '../../src/engine/layering.js';
import { type LoadedPolicy, loadPolicy, type SpendPolicyInput } from '../../src/policy/index.js';
import { type PolicyAnalysisStorage, type ReplayReport, StorageError } from '../../src/storage/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { bundleFrom } from '../support/policy-bundle.js';

const INTENT_ALLOW = 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n';

/** An org policy bundle from a Rego body of `allowance.spend`. */
async function orgPolicy(revision: string, spend: string): Promise<LoadedPolicy> {
  return loadPolicy(
    await bundleFrom({ 'spend.rego': `package allowance.spend\n\n${spend}\n`, 'intent.rego': INTENT_ALLOW }, revision),
  );
}

let noSoftware: Promise<LoadedPolicy> | undefined;
/** Denies software merchants (mcc 5734), allows the rest: the candidate most cases use. */
function noSoftwarePolicy(): Promise<LoadedPolicy> {
  noSoftware ??= orgPolicy(
    'rev-no-software',
    'decision := {"action": "DENY", "reasons": ["no_software"]} if input.request.merchant.mcc == "5734"\n' +
      'else := {"action": "ALLOW", "reasons": []}',
  );
  return noSoftware;
}

async function world(
  options: {
    shadow?: LoadedPolicy;
    authority?: Record<string, unknown>;
    /** Wraps the policy analysis storage the engine gets (fault injection). */
    wrap?: (s: PolicyAnalysisStorage) => PolicyAnalysisStorage;
  } = {},
) {
  const stores = createMemoryStores();
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  const divergences: string[] = [];
  const candidateErrors: string[] = [];
  const base = await defaultPolicy();
  const engine = createEngine({
    store: stores.store,
    // The base for every org, and `shadow` as every org's shadow candidate (what the registry resolves).
    policy: { forOrg: () => ({ active: base, shadow: null, org: null, orgShadow: options.shadow ?? null }) },
    clock,
    analysis: {
      storage: options.wrap ? options.wrap(stores.policyAnalysis) : stores.policyAnalysis,
      onDivergence: (t) => divergences.push(t),
      onCandidateError: (r) => candidateErrors.push(r),
    },
  });
  await engine.init();
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'P' });
  const agent = await engine.createAgent(org.id, { name: 'buyer' });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    ...options.authority,
  });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: 'tok_1' },
  });
  let n = 0;
  const pay = (amount: number, mcc: string, merchantId = `mer_${mcc}`) =>
    engine.authorize(processor.id, {
      authorization_id: `pa_${String(++n).padStart(5, '0')}`,
      credential_reference: 'tok_1',
      amount,
      currency: 'USD',
      merchant: { id: merchantId, mcc, country: 'US' },
    });
  return { engine, stores, clock, org, processor, agent, authority, base, pay, divergences, candidateErrors };
}

/** Everything the engine's store holds that a replay must not change. */
function storeState(w: Awaited<ReturnType<typeof world>>) {
  const auths = w.stores.store.scanAuthorizations(w.org.id, {
    from: '2000-01-01T00:00:00.000Z',
    to: '2100-01-01T00:00:00.000Z',
    limit: 1_000_000,
  }).items;
  return { auths: JSON.stringify(auths), usage: JSON.stringify(w.stores.store.inspectUsage(w.org.id, w.authority.id)) };
}

// ---

const shadow = suite('policy analysis: shadow');

shadow('a shadow candidate never decides; its divergences are counted, sampled and reported', async () => {
  const w = await world({ shadow: await noSoftwarePolicy() });
  const live = [await w.pay(1000, '5734'), await w.pay(2000, '5411'), await w.pay(3000, '5734', 'mer_other')];
  assert.equal(
    live.map((d) => d.action),
    ['ALLOW', 'ALLOW', 'ALLOW'],
    'the live answer is the active policy’s',
  );
  await w.engine.policyAnalysis.flushShadow();
  const stats = await w.engine.policyAnalysis.shadowStats(w.org.id, 'rev-no-software');
  assert.ok(stats);
  assert.is(stats.evaluated, 3);
  assert.is(stats.diverged, 2);
  assert.equal(stats.transitions, { 'ALLOW->DENY': 2 });
  assert.equal(stats.reasons, { 'policy:no_software': 2 });
  assert.equal(stats.approved_amount_delta, { sum: -4000, min: -3000, max: -1000 });
  assert.equal(
    stats.samples.map((s) => [s.authorization_id, s.active.action, s.candidate.action, s.candidate.reasons]),
    [
      [live[0]?.authorization_id, 'ALLOW', 'DENY', ['policy:no_software']],
      [live[2]?.authorization_id, 'ALLOW', 'DENY', ['policy:no_software']],
    ],
  );
  assert.is(stats.since, '2026-11-23T10:00:00.000Z');
  assert.equal(w.divergences, ['ALLOW->DENY', 'ALLOW->DENY'], 'the metric hook saw each divergence');
  // A repeated request returns the stored decision and is not compared again.
  await w.engine.authorize(w.processor.id, {
    authorization_id: live[0]?.authorization_id,
    credential_reference: 'tok_1',
    amount: 1000,
    currency: 'USD',
    merchant: { id: 'mer_5734', mcc: '5734', country: 'US' },
  });
  await w.engine.policyAnalysis.flushShadow();
  assert.is((await w.engine.policyAnalysis.shadowStats(w.org.id, 'rev-no-software'))?.evaluated, 3);
});

shadow('a failing candidate changes nothing live and counts as a policy_error DENY', async () => {
  const broken = await orgPolicy('rev-broken', 'decision := {"action": "MAYBE", "reasons": []}');
  const w = await world({ shadow: broken });
  const d = await w.pay(500, '5411');
  assert.is(d.action, 'ALLOW');
  await w.engine.policyAnalysis.flushShadow();
  const stats = await w.engine.policyAnalysis.shadowStats(w.org.id, 'rev-broken');
  assert.equal(stats?.transitions, { 'ALLOW->DENY': 1 });
  // The reason live layering gives a failed org policy.
  const [reason] = layerDecisions({ action: 'ALLOW', reasons: [] }, { action: 'DENY', reasons: [POLICY_ERROR_REASON] })
    .reasons as [string];
  assert.equal(stats?.reasons, { [reason]: 1 });
  assert.equal(w.candidateErrors, ['rev-broken']);
});

shadow('intent declarations are compared too, with the intent id in the sample', async () => {
  const strictIntents = await loadPolicy(
    await bundleFrom(
      {
        'spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
        'intent.rego':
          'package allowance.intent\n\n' +
          'decision := {"action": "DENY", "reasons": ["no_software"]} if input.request.merchant.mcc == "5734"\n' +
          'else := {"action": "ALLOW", "reasons": []}\n',
      },
      'rev-strict-intents',
    ),
  );
  const w = await world({ shadow: strictIntents });
  const intent = (mcc: string) =>
    w.engine.validateIntent(w.org.id, {
      agent_id: w.agent.id,
      description: 'licences',
      max_amount: 4000,
      currency: 'USD',
      merchant: { id: `mer_${mcc}`, mcc },
      expires_at: '2026-11-24T10:00:00.000Z',
    });
  const software = await intent('5734');
  const grocery = await intent('5411');
  assert.equal([software.action, grocery.action], ['ALLOW', 'ALLOW'], 'the live answers are the active policy’s');
  await w.engine.simulateIntent(w.org.id, {
    agent_id: w.agent.id,
    description: 'simulated',
    max_amount: 100,
    currency: 'USD',
    merchant: { mcc: '5734' },
    expires_at: '2026-11-24T10:00:00.000Z',
  });
  await w.engine.policyAnalysis.flushShadow();
  const stats = await w.engine.policyAnalysis.shadowStats(w.org.id, 'rev-strict-intents');
  assert.is(stats?.evaluated, 2, 'the simulation is not compared');
  assert.equal(stats?.transitions, { 'ALLOW->DENY': 1 });
  assert.equal(stats?.approved_amount_delta, { sum: -4000, min: -4000, max: -4000 });
  const sample = stats?.samples[0];
  assert.is(sample?.kind, 'intent');
  assert.is(sample?.intent_id, software.intent.id);
  assert.is(sample?.authorization_id, null);
  assert.equal(sample?.candidate.reasons, ['policy:no_software']);
});

/** The storage with one method failing (unavailable) while `failing()` says so. */
function failingWhile(method: keyof PolicyAnalysisStorage, failing: () => boolean) {
  return (s: PolicyAnalysisStorage): PolicyAnalysisStorage =>
    new Proxy(s, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== method || typeof value !== 'function')
          return typeof value === 'function' ? value.bind(target) : value;
        return (...args: unknown[]) =>
          failing()
            ? Promise.reject(new StorageError('unavailable', `${String(method)} down`))
            : value.apply(target, args);
      },
    });
}

shadow('a failed counter write never touches the live answer and is written at the next flush, once', async () => {
  let down = true;
  const w = await world({ shadow: await noSoftwarePolicy(), wrap: failingWhile('recordShadow', () => down) });
  const d = await w.pay(700, '5734');
  assert.is(d.action, 'ALLOW');
  await w.engine.policyAnalysis.flushShadow();
  assert.is(await w.stores.policyAnalysis.getShadowStats(w.org.id, 'rev-no-software'), null, 'the write failed');
  down = false;
  await w.engine.policyAnalysis.flushShadow();
  await w.engine.policyAnalysis.flushShadow();
  const stats = await w.stores.policyAnalysis.getShadowStats(w.org.id, 'rev-no-software');
  assert.is(stats?.evaluated, 1, 'kept and written once');
  assert.equal(stats?.transitions, { 'ALLOW->DENY': 1 });
});

shadow('comparisons beyond the queue bound are dropped and counted, never blocking', async () => {
  const stores = createMemoryStores();
  const recorder = new ShadowRecorder({
    storage: stores.policyAnalysis,
    logger: { info() {}, warn() {}, error() {} },
    maxQueued: 2,
  });
  let decided = 0;
  const observation = (i: number) => ({
    orgId: 'org_1',
    activeRevision: null,
    candidate: { revision: 'rev-x' } as LoadedPolicy,
    active: { action: 'ALLOW' as const, reasons: [], approved_amount: 10 },
    decide: () => {
      decided++;
      return { action: 'DENY' as const, reasons: ['policy:x'], approved_amount: 0 };
    },
    sample: {
      kind: 'authorization' as const,
      processor_id: 'prc_1',
      authorization_id: `pa_${i}`,
      intent_id: null,
      at: '2026-11-23T10:00:00.000Z',
      agent_id: null,
      merchant_id: null,
    },
  });
  for (let i = 0; i < 3; i++) recorder.observe(observation(i));
  assert.is(decided, 0, 'nothing is evaluated on the caller’s turn');
  assert.is(recorder.dropped, 1);
  await recorder.flush();
  assert.is(decided, 2);
  assert.is((await stores.policyAnalysis.getShadowStats('org_1', 'rev-x'))?.diverged, 2);
});

shadow('simulations are not compared', async () => {
  const w = await world({ shadow: await noSoftwarePolicy() });
  await w.engine.simulate(w.org.id, {
    processor_id: w.processor.id,
    authorization_id: 'pa_sim',
    credential_reference: 'tok_1',
    amount: 100,
    currency: 'USD',
    merchant: { mcc: '5734' },
  });
  await w.engine.policyAnalysis.flushShadow();
  assert.is(await w.engine.policyAnalysis.shadowStats(w.org.id, 'rev-no-software'), null);
});

shadow.run();

// ---

const replay = suite('policy analysis: replay');

function window(from: string, to: string, limit: number | null = null) {
  return { from, to, limit };
}

replay('re-decides the window from the stored inputs; writes only its audit event', async () => {
  const w = await world();
  const candidate = await noSoftwarePolicy();
  const at = (min: number) => new Date(Date.parse('2026-11-23T10:00:00.000Z') + min * 60_000).toISOString();
  const made = [];
  for (const [i, [amount, mcc, merchant]] of (
    [
      [1000, '5734', 'mer_a'],
      [2000, '5411', 'mer_b'],
      [3000, '5734', 'mer_a'],
      [4000, '5734', 'mer_c'],
      [5000, '5734', 'mer_a'],
    ] as const
  ).entries()) {
    w.clock.set(at(i));
    made.push(await w.pay(amount, mcc, merchant));
  }
  const before = storeState(w);
  const outbox = w.stores.store.auditOutbox.size;
  // [minute 0, minute 4): the last payment is outside.
  const res = await w.engine.policyAnalysis.replay(
    w.org.id,
    { base: w.base, candidate },
    window(at(0), at(4)),
    'key_1',
  );
  assert.ok('report' in res, 'a small window answers at once');
  const report = (res as { report: ReplayReport }).report;
  assert.is(report.replayed, 4);
  assert.is(report.changed, 3);
  assert.equal(report.transitions, { 'ALLOW->DENY': 3 });
  assert.equal(report.reasons, { 'policy:no_software': 3 });
  assert.equal(report.approved_amount_delta, { sum: -8000, min: -4000, max: -1000 });
  assert.equal(report.top_merchants, [
    { merchant_id: 'mer_a', changed: 2 },
    { merchant_id: 'mer_c', changed: 1 },
  ]);
  assert.equal(report.top_agents, [{ agent_id: w.agent.id, changed: 3 }]);
  assert.equal(
    report.samples.map((s) => s.authorization_id),
    [made[0], made[2], made[3]].map((d) => d?.authorization_id),
  );
  assert.equal(storeState(w), before, 'authorizations and usage untouched');
  const added = w.stores.store.inspectAuditOutbox().filter((d) => d.type === 'policy.replay.completed');
  assert.is(w.stores.store.auditOutbox.size, outbox + 1, 'exactly one audit draft was written');
  assert.is(added.length, 1);
  assert.is(added[0]?.actor, 'key_1');
  assert.equal(added[0]?.payload.changed, 3);
  // `limit` takes the oldest.
  const limited = await w.engine.policyAnalysis.replay(w.org.id, { base: w.base, candidate }, window(at(0), at(10), 2));
  assert.is((limited as { report: ReplayReport }).report.replayed, 2);
});

replay('replaying the policies that decided changes nothing, velocity and window limits included', async () => {
  const w = await world({
    authority: {
      limits: { per_transaction: 5000, daily: 6000 },
      velocity: { daily: 3 },
      step_up_above: 4500,
      partial_approval: true,
    },
  });
  const allowAll = await orgPolicy('rev-allow-all', 'decision := {"action": "ALLOW", "reasons": []}');
  const actions = [];
  for (const amount of [1000, 4800, 2000, 2500, 500, 100]) actions.push((await w.pay(amount, '5411')).action);
  // A mix of outcomes, among them denials by the window limit and by velocity.
  assert.ok(actions.includes('STEP_UP') && actions.includes('DENY') && actions.includes('ALLOW'), actions.join());
  const res = await w.engine.policyAnalysis.replay(
    w.org.id,
    { base: w.base, candidate: allowAll },
    window('2026-11-23T00:00:00.000Z', '2026-11-24T00:00:00.000Z'),
  );
  const report = (res as { report: ReplayReport }).report;
  assert.is(report.replayed, 6);
  assert.is(report.changed, 0, JSON.stringify(report.samples));
});

replay('an org policy can only tighten: an allow-all candidate never approves what the engine denies', async () => {
  const w = await world({ authority: { limits: { per_transaction: 1000 } } });
  const d = await w.pay(2000, '5411');
  assert.is(d.action, 'DENY');
  const input = w.stores.store.inspectAuthorization(w.processor.id, d.authorization_id)
    ?.policy_input as SpendPolicyInput;
  const allowAll = await orgPolicy('rev-allow-all', 'decision := {"action": "ALLOW", "reasons": []}');
  assert.is(redecide({ base: w.base, candidate: allowAll }, input).action, 'DENY');
});

replay('a window larger than the immediate bound runs as a job with progress and an audit event', async () => {
  const w = await world();
  const candidate = await noSoftwarePolicy();
  for (let i = 0; i <= SYNC_REPLAY_MAX; i++) {
    w.clock.advance(10);
    await w.pay(100, i % 4 === 0 ? '5734' : '5411');
  }
  const before = storeState(w);
  const res = await w.engine.policyAnalysis.replay(
    w.org.id,
    { base: w.base, candidate },
    window('2026-11-23T00:00:00.000Z', '2026-11-24T00:00:00.000Z'),
    'key_2',
  );
  assert.ok('job' in res);
  const job = (res as { job: { id: string; status: string; progress: { total: number } } }).job;
  assert.is(job.status, 'running');
  assert.is(job.progress.total, SYNC_REPLAY_MAX + 1);
  await w.engine.policyAnalysis.whenReplayDone(job.id);
  const done = await w.engine.policyAnalysis.getReplay(w.org.id, job.id);
  assert.is(done.status, 'completed');
  assert.equal(done.progress, { done: SYNC_REPLAY_MAX + 1, total: SYNC_REPLAY_MAX + 1 });
  assert.is(done.report?.replayed, SYNC_REPLAY_MAX + 1);
  assert.is(done.report?.changed, Math.floor(SYNC_REPLAY_MAX / 4) + 1);
  assert.is(done.report?.samples.length, 50);
  assert.equal(storeState(w), before);
  const events = w.stores.store.inspectAuditOutbox().filter((d) => d.type === 'policy.replay.completed');
  assert.is(events.length, 1);
  assert.is(events[0]?.subject.id, job.id);
  assert.is(events[0]?.actor, 'key_2');
  const other = await w.engine.createOrg({ name: 'Other' });
  const err = await w.engine.policyAnalysis.getReplay(other.id, job.id).catch((e) => e);
  assert.is(err.code, 'not_found', 'another org’s job is not found');
});

replay('a job whose storage fails ends failed, with the error and no audit event', async () => {
  let down = false;
  const w = await world({ wrap: failingWhile('scanAuthorizations', () => down) });
  for (let i = 0; i <= SYNC_REPLAY_MAX; i++) {
    w.clock.advance(10);
    await w.pay(100, '5411');
  }
  down = true;
  const res = await w.engine.policyAnalysis.replay(
    w.org.id,
    { base: w.base, candidate: await noSoftwarePolicy() },
    window('2026-11-23T00:00:00.000Z', '2026-11-24T00:00:00.000Z'),
  );
  const job = (res as { job: { id: string } }).job;
  await w.engine.policyAnalysis.whenReplayDone(job.id);
  const failed = await w.engine.policyAnalysis.getReplay(w.org.id, job.id);
  assert.is(failed.status, 'failed');
  assert.is(failed.error?.code, 'storage_unavailable');
  assert.is(failed.report, null);
  assert.is(w.stores.store.inspectAuditOutbox().filter((d) => d.type === 'policy.replay.completed').length, 0);
});

replay('a window whose start is not before its end is refused', async () => {
  const w = await world();
  const err = await w.engine.policyAnalysis
    .replay(
      w.org.id,
      { base: w.base, candidate: await noSoftwarePolicy() },
      window('2026-11-24T00:00:00.000Z', '2026-11-23T00:00:00.000Z'),
    )
    .catch((e) => e);
  assert.is(err.code, 'validation_failed');
});

replay.run();
