// Replay benchmark: decisions replayed per second on the memory store (100,000 stored decisions by default),
// and authorize latency with policy layers against base only, measured in the same run in interleaved rounds
// (each round runs every mode on a fresh authorization id range; percentiles over all rounds per mode).
// Usage: npm run bench:replay   (BENCH_REPLAY_N=100000 BENCH_AUTH_N=4000 BENCH_ROUNDS=6)
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStores } from '../adapters/memory/index.js';
import { createEngine, replayAuthorizations } from '../src/engine/index.js';
import { buildPolicyBundle, type LoadedPolicy, loadPolicy, PolicyHolder } from '../src/policy/index.js';
import { projectRoot } from '../src/policy/project-root.js';
import { ManualClock } from '../src/util/clock.js';
import { printTable, summarize } from './stats.js';

const REPLAY_N = Number(process.env.BENCH_REPLAY_N ?? 100_000);
const AUTH_N = Number(process.env.BENCH_AUTH_N ?? 4_000);
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
  const src = await mkdtemp(join(tmpdir(), 'allowance-bench-org-'));
  await writeFile(join(src, 'spend.rego'), ORG_SPEND);
  await writeFile(join(src, 'intent.rego'), ORG_INTENT);
  await writeFile(join(src, 'data.json'), JSON.stringify(ORG_DATA));
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-bench-out-')), 'bundle.tar.gz');
  const capabilities = join(projectRoot(), 'policies', 'capabilities.json');
  const { outFile } = await buildPolicyBundle({ sourceDir: src, outFile: out, revision, capabilities });
  return loadPolicy(new Uint8Array(await readFile(outFile)));
}

async function world(policy: PolicyHolder, withAnalysis: boolean) {
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
  const request = (i: number) => ({
    authorization_id: `pa_${String(i).padStart(8, '0')}`,
    credential_reference: `tok_bench_${i % 8}`,
    amount: 100 + ((i * 7919) % 11_000),
    currency: 'USD',
    merchant: { id: `mer_${i % 29}`, mcc: mccs[i % 4] as string, country: 'US' },
    channel: 'online',
    partial_approval_supported: true,
  });
  return { engine, stores, clock, org, processorId: processor.id, request };
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
  const dir = await mkdtemp(join(tmpdir(), 'allowance-bench-base-'));
  const built = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz') });
  const base = await loadPolicy(new Uint8Array(await readFile(built.outFile)));
  const candidate = await orgPolicy('bench-candidate');
  const rows: Record<string, string | number>[] = [];

  // 1. Replay throughput: REPLAY_N decisions stored by the engine, then replayed against the candidate.
  const r = await world(new PolicyHolder(base), true);
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
  const modes: Record<string, Awaited<ReturnType<typeof world>>> = {
    base_only: await world(new PolicyHolder(base), true),
    base_only_aa: await world(new PolicyHolder(base), true),
    shadow_candidate: await world(new PolicyHolder(base, candidate), true),
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((k) => [k, []]));
  let next = 0;
  for (const w of Object.values(modes)) {
    for (let i = 0; i < WARMUP; i++) await w.engine.authorize(w.processorId, w.request(next++));
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
        const req = w.request(next++);
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
      authorize_shadow_p50_us: p('shadow_candidate', 'p50_us'),
      authorize_shadow_p99_us: p('shadow_candidate', 'p99_us'),
      targets: { replay_per_second: 10_000, org_layer_added_p50_us: 20, promotion_to_effect_ms: 1000 },
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
