// Replay benchmark, three parts:
// 1. decisions replayed per second on the memory store (100,000 stored decisions by default), with the same
//    two policy evaluations over the same inputs (no storage, no comparison) as the same-run baseline;
// 2. engine.authorize latency on the memory store with base only (twice: an A/A control), with an org policy
//    layered on the base, and with an org policy plus a shadow candidate, in interleaved rounds of one run;
// 3. promotion-to-effect across two servers on MongoDB: server A promotes through the policy service, the
//    time until server B's registry (polling every 250 ms) resolves the new revision.
// Usage: npm run bench:replay
//   (BENCH_REPLAY_N=100000 BENCH_AUTH_N=6000 BENCH_ROUNDS=6 BENCH_PROMOTIONS=8 BENCH_MONGODB_URI=...)
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStores } from '../adapters/memory/index.js';
import { createMongoStores } from '../adapters/mongodb/index.js';
import { createEngine, type PolicyResolver, replayAuthorizations } from '../src/engine/index.js';
import { PolicyService } from '../src/http/policy-service.js';
import { type LoadedPolicy, loadPolicy, PolicyRegistry } from '../src/policy/index.js';
import { buildPolicyBundle } from '../src/policy-build/index.js';
import { ManualClock, systemClock } from '../src/util/clock.js';
import { projectRoot } from '../src/util/project-root.js';
import { type RunningMongoServer, startMongoServer } from '../test/support/mongo-server.js';
import { printTable, summarize } from './stats.js';

const REPLAY_N = Number(process.env.BENCH_REPLAY_N ?? 100_000);
const AUTH_N = Number(process.env.BENCH_AUTH_N ?? 6_000);
const PROMOTIONS = Number(process.env.BENCH_PROMOTIONS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const WARMUP = 1_000;

/** A realistic org policy: a vendor block list and a cap per merchant category from data.json. */
const ORG_SPEND = `package allowance.spend

import rego.v1

default decision := {"action": "ALLOW", "reasons": []}

blocked if input.request.merchant.id in data.vendors.blocked

over_cap if input.request.amount > data.caps[input.request.merchant.mcc]

decision := {"action": "DENY", "reasons": ["vendor_blocked"]} if blocked

decision := {"action": "STEP_UP", "reasons": ["category_cap"]} if {
  not blocked
  over_cap
}
`;
const ORG_INTENT = `package allowance.intent

import rego.v1

default decision := {"action": "ALLOW", "reasons": []}
`;
const ORG_DATA = {
  vendors: { blocked: ['mer_7', 'mer_13', 'mer_21'] },
  caps: { '5734': 2500, '5411': 9000 },
};

async function orgPolicy(revision: string): Promise<LoadedPolicy> {
  return loadPolicy(await orgBundle(revision));
}

let base: Promise<LoadedPolicy> | undefined;
/** The platform base bundle of this checkout, built once. */
function basePolicy(): Promise<LoadedPolicy> {
  base ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'allowance-bench-base-'));
    const built = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz') });
    return loadPolicy(new Uint8Array(await readFile(built.outFile)));
  })();
  return base;
}

/** The org policy bundle (archive bytes) under `revision`. */
async function orgBundle(revision: string): Promise<Uint8Array> {
  const src = await mkdtemp(join(tmpdir(), 'allowance-bench-org-'));
  await writeFile(join(src, 'spend.rego'), ORG_SPEND);
  await writeFile(join(src, 'intent.rego'), ORG_INTENT);
  await writeFile(join(src, 'data.json'), JSON.stringify(ORG_DATA));
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-bench-out-')), 'bundle.tar.gz');
  const capabilities = join(projectRoot(), 'policies', 'capabilities.json');
  const { outFile } = await buildPolicyBundle({ sourceDir: src, outFile: out, revision, capabilities });
  return new Uint8Array(await readFile(outFile));
}

async function world(policy: PolicyResolver, withAnalysis: boolean) {
  const stores = createMemoryStores();
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  const engine = createEngine({
    store: stores.store,
    policy,
    clock,
    audit: { enabled: false },
    ...(withAnalysis ? { analysis: { storage: stores.policyAnalysis, shadowFlushMs: 1000 } } : {}),
  });
  await engine.init();
  const org = await engine.createOrg({ name: 'Bench Org' });
  const processor = await engine.createProcessor({ name: 'Bench Processor' });
  const agents = [];
  for (let a = 0; a < 8; a++) {
    const agent = await engine.createAgent(org.id, { name: `agent-${a}` });
    const authority = await engine.createAuthority(org.id, {
      agent_id: agent.id,
      currency: 'USD',
      limits: { per_transaction: 10_000, daily: 1e12, weekly: 1e12, monthly: 1e12, total: 1e13 },
      velocity: { daily: 1e9 },
      merchant_rules: { block_mcc: ['7995'] },
      step_up_above: 9_500,
      partial_approval: true,
    });
    await engine.createBinding(org.id, {
      agent_id: agent.id,
      authority_id: authority.id,
      processor_id: processor.id,
      credential: { type: 'network_token', reference: `tok_bench_${a}` },
    });
    agents.push(agent);
  }
  const mccs = ['5734', '5411', '5812', '7995'];
  // A mix the candidate changes: blocked vendors, amounts over its caps, the base's blocked mcc.
  const request = (i: number) => ({
    authorization_id: `pa_${String(i).padStart(8, '0')}`,
    credential_reference: `tok_bench_${i % 8}`,
    amount: 100 + ((i * 7919) % 11_000),
    currency: 'USD',
    merchant: { id: `mer_${i % 29}`, mcc: mccs[i % 4] as string, country: 'US' },
    channel: 'online',
    partial_approval_supported: true,
  });
  // What the latency part sends: every policy combination approves it, so every mode does the same writes.
  const approvable = (i: number) => ({
    authorization_id: `pl_${String(i).padStart(8, '0')}`,
    credential_reference: `tok_bench_${i % 8}`,
    amount: 100 + ((i * 7919) % 2_000),
    currency: 'USD',
    merchant: { id: `mer_ok_${i % 5}`, mcc: i % 2 ? '5734' : '5411', country: 'US' },
    channel: 'online',
    partial_approval_supported: true,
  });
  return { engine, stores, clock, org, processorId: processor.id, request, approvable };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * Two servers on one MongoDB database: A promotes alternately two revisions of the org through the policy
 * service (which refreshes A at once); B only polls its store every 250 ms like a server does. Returns the
 * milliseconds from the promote call until B resolves the promoted revision, per promotion.
 */
async function promotionToEffect(): Promise<{ ms: number[]; server: string }> {
  let server: RunningMongoServer | null = null;
  let uri = process.env.BENCH_MONGODB_URI;
  let name = uri ? 'BENCH_MONGODB_URI' : 'test wire server (mongo-java-server)';
  if (!uri) {
    try {
      server = await startMongoServer();
      uri = server.uri;
    } catch (err) {
      return { ms: [], server: `skipped: ${(err as Error).message}` };
    }
  }
  const dbName = `bench_promotion_${process.pid}`;
  const a = createMongoStores({ uri, dbName });
  const b = createMongoStores({ uri, dbName });
  const out: number[] = [];
  try {
    for (const s of [a, b]) {
      await s.store.init();
      await s.policies.init();
    }
    const registryA = new PolicyRegistry({ storage: a.policies, base: await basePolicy() });
    const registryB = new PolicyRegistry({ storage: b.policies, base: await basePolicy() });
    await registryA.refresh();
    await registryB.refresh();
    registryA.start(250);
    registryB.start(250);
    const engine = createEngine({ store: a.store, policy: registryA, audit: { enabled: false } });
    const service = new PolicyService({ engine, storage: a.policies, registry: registryA, clock: systemClock });
    const org = await engine.createOrg({ name: 'Promotion Org' });
    const revisions = ['bench-rev-a', 'bench-rev-b'];
    for (const rev of revisions) await service.upload(org.id, await orgBundle(rev), 'key_bench');
    for (let i = 0; i < PROMOTIONS; i++) {
      const rev = revisions[i % 2] as string;
      // Start between two polls of B, at a varying offset.
      await new Promise((ok) => setTimeout(ok, 100 + ((i * 37) % 250)));
      const t0 = performance.now();
      await service.promote(org.id, rev, 'key_bench');
      while (registryB.forOrg(org.id).org?.revision !== rev) {
        if (performance.now() - t0 > 10_000) throw new Error('server B never saw the promotion');
        await new Promise((ok) => setTimeout(ok, 2));
      }
      out.push(Math.round(performance.now() - t0));
    }
    registryA.stop();
    registryB.stop();
  } finally {
    await b.policies.close();
    await b.store.close();
    await a.policies.close();
    await a.store.close();
    await server?.stop();
  }
  name = `${name}, B polls every 250 ms`;
  return { ms: out, server: name };
}

/** BENCH_PROFILE_REPLAY=file: a CPU profile of the replay alone, written to that file. */
async function startProfile(): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(process.env.BENCH_PROFILE_REPLAY as string, JSON.stringify(profile));
    session.disconnect();
  };
}

async function main() {
  const base = await basePolicy();
  const candidate = await orgPolicy('bench-candidate');
  const rows: Record<string, string | number>[] = [];

  // 1. Replay throughput: REPLAY_N decisions stored by the engine, then replayed against the candidate.
  const baseOnly: PolicyResolver = { forOrg: () => ({ active: base, shadow: null }) };
  const r = await world(baseOnly, true);
  const fillStart = performance.now();
  for (let i = 0; i < REPLAY_N; i++) {
    r.clock.advance(5);
    await r.engine.authorize(r.processorId, r.request(i));
  }
  const fillMs = performance.now() - fillStart;
  const windowAll = { from: '2026-11-01T00:00:00.000Z', to: '2026-12-31T00:00:00.000Z', limit: null };
  const profile = process.env.BENCH_PROFILE_REPLAY ? await startProfile() : null;
  const t0 = performance.now();
  const report = await replayAuthorizations(r.stores.policyAnalysis, r.org.id, { base, candidate }, windowAll);
  const replayMs = performance.now() - t0;
  await profile?.();
  const perSecond = Math.round(report.replayed / (replayMs / 1000));
  // Same-run baseline: the same policies evaluated over the same inputs without storage, paging or comparison.
  const inputs = r.stores.store
    .scanAuthorizations(r.org.id, { ...windowAll, limit: REPLAY_N })
    .items.map((x) => x.policy_input as Parameters<LoadedPolicy['evaluateSpend']>[0]);
  const t1 = performance.now();
  for (const input of inputs) {
    base.evaluateSpend(input);
    try {
      candidate.evaluateSpend(input);
    } catch {
      // counted as policy_error in replay; the baseline only times the evaluation
    }
  }
  const evalMs = performance.now() - t1;
  rows.push({
    case: 'replay_memory',
    what: `replay of ${report.replayed} stored decisions (${report.changed} changed)`,
    n: report.replayed,
    result: `${perSecond}/s`,
    ms: Math.round(replayMs),
  });
  rows.push({
    case: 'baseline_two_evals',
    what: 'base + candidate evaluateSpend over the same inputs',
    n: inputs.length,
    result: `${Math.round(inputs.length / (evalMs / 1000))}/s`,
    ms: Math.round(evalMs),
  });

  // 2. Authorize latency per mode, interleaved rounds on one engine per mode.
  const orgActive: PolicyResolver = { forOrg: () => ({ active: base, shadow: null, org: candidate }) };
  const shadowed = await orgPolicy('bench-shadow');
  const orgAndShadow: PolicyResolver = {
    forOrg: () => ({ active: base, shadow: null, org: candidate, orgShadow: shadowed }),
  };
  const modes: Record<string, Awaited<ReturnType<typeof world>>> = {
    base_only: await world(baseOnly, true),
    base_only_aa: await world(baseOnly, true),
    org_active: await world(orgActive, true),
    org_active_shadow: await world(orgAndShadow, true),
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((k) => [k, []]));
  let next = 0;
  for (const [name, w] of Object.entries(modes)) {
    for (let i = 0; i < WARMUP; i++) {
      const d = await w.engine.authorize(w.processorId, w.approvable(next++));
      if (d.action !== 'ALLOW') throw new Error(`bench setup: ${name} gave ${d.action} ${d.reason_codes}`);
    }
    await w.engine.policyAnalysis.flushShadow();
  }
  const perRound = Math.ceil(AUTH_N / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    const order = Object.keys(modes);
    if (round % 2 === 1) order.reverse();
    for (const name of order) {
      const w = modes[name] as Awaited<ReturnType<typeof world>>;
      const out = samples[name] as number[];
      for (let i = 0; i < perRound; i++) {
        w.clock.advance(5);
        const req = w.approvable(next++);
        const s = process.hrtime.bigint();
        await w.engine.authorize(w.processorId, req);
        out.push(Number(process.hrtime.bigint() - s));
      }
      // Shadow work queued by this mode runs here, outside every timed call.
      await w.engine.policyAnalysis.flushShadow();
    }
  }
  const stats = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  for (const [name, s] of Object.entries(stats)) {
    rows.push({
      case: `authorize_${name}`,
      what: 'engine.authorize, memory, 1 in flight',
      n: s.n,
      result: `p50 ${s.p50_us} µs / p99 ${s.p99_us} µs`,
      ms: '',
    });
  }
  const promotion = await promotionToEffect();
  if (promotion.ms.length > 0) {
    const sorted = [...promotion.ms].sort((a, b) => a - b);
    rows.push({
      case: 'promotion_to_effect_mongodb',
      what: `promote on server A until server B decides with it (${promotion.server})`,
      n: sorted.length,
      result: `p50 ${sorted[Math.floor(sorted.length / 2)]} ms / max ${sorted[sorted.length - 1]} ms`,
      ms: '',
    });
  } else {
    rows.push({ case: 'promotion_to_effect_mongodb', what: promotion.server, n: 0, result: 'skipped', ms: '' });
  }
  printTable(rows);
  const p = (k: string, f: 'p50_us' | 'p99_us') => stats[k]?.[f] ?? null;
  console.log(
    JSON.stringify({
      bench: 'replay',
      node: process.version,
      replay_n: report.replayed,
      replay_changed: report.changed,
      replay_per_second: perSecond,
      replay_ms: Math.round(replayMs),
      baseline_two_evals_per_second: Math.round(inputs.length / (evalMs / 1000)),
      fill_ms: Math.round(fillMs),
      authorize_base_p50_us: p('base_only', 'p50_us'),
      authorize_base_p99_us: p('base_only', 'p99_us'),
      authorize_base_aa_p50_us: p('base_only_aa', 'p50_us'),
      authorize_base_aa_p99_us: p('base_only_aa', 'p99_us'),
      authorize_org_p50_us: p('org_active', 'p50_us'),
      authorize_org_p99_us: p('org_active', 'p99_us'),
      authorize_org_shadow_p50_us: p('org_active_shadow', 'p50_us'),
      authorize_org_shadow_p99_us: p('org_active_shadow', 'p99_us'),
      org_layer_added_p50_us: round1((p('org_active', 'p50_us') ?? 0) - (p('base_only', 'p50_us') ?? 0)),
      aa_difference_p50_us: round1((p('base_only_aa', 'p50_us') ?? 0) - (p('base_only', 'p50_us') ?? 0)),
      promotion_to_effect_ms: promotion.ms,
      promotion_to_effect_max_ms: promotion.ms.length > 0 ? Math.max(...promotion.ms) : null,
      targets: { replay_per_second: 10_000, org_layer_added_p50_us: 20, promotion_to_effect_ms: 1000 },
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
