// Rules-as-data benchmark: the cost of evaluating an org's rules revision (the base policy's WASM with the
// rules as data) on top of the base, against the same-run baseline of the base alone (twice: an A/A control)
// and of a hand-written Rego org policy, in interleaved rounds of one run; and the cost of the local time the
// engine now computes for every authorization (cached per zone and minute, and uncached).
// Usage: npm run bench:rules   (BENCH_N=20000 BENCH_ROUNDS=5)
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localTimeAt } from '../src/engine/index.js';
import { layerDecisions } from '../src/engine/layering.js';
import {
  buildRulesBundle,
  type LoadedPolicy,
  loadPolicy,
  type SpendPolicyInput,
  smokeSpendInputs,
} from '../src/policy/index.js';
import { buildPolicyBundle } from '../src/policy-build/index.js';
import { vendorPolicy } from '../test/support/policy-uploads.js';
import { printTable, sample, summarize } from './stats.js';

const N = Number(process.env.BENCH_N ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP = 2_000;

const MCCS = ['5734', '5411', '5812', '7995', '4511', '5999'];
const COUNTRIES = ['US', 'CA', 'DE', 'FR'];

/** `n` rules of every kind of condition; none matches the benchmark's payments before the last ones. */
function rules(n: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 5;
    const conditions =
      kind === 0
        ? { mcc: { in: [String(1000 + i)] } }
        : kind === 1
          ? { merchant: { in: [`mer_never_${i}`] }, amount: { gte: 1 } }
          : kind === 2
            ? { country: { in: ['JP'] }, weekdays: ['sat', 'sun'] }
            : kind === 3
              ? { time_of_day: { from: '02:00', to: '03:00' }, currency: { not_in: ['USD'] } }
              : { velocity: { window: 'daily', count_above: 1_000_000 }, agent: { not_in: ['agt_smoke'] } };
    out.push({ id: `r${i}`, priority: i, is_active: true, conditions, action: { type: 'deny' } });
  }
  out.push({
    id: 'gambling',
    priority: n,
    is_active: true,
    conditions: { mcc: { in: ['7995'] } },
    action: { type: 'deny' },
  });
  return out;
}

function inputs(): SpendPolicyInput[] {
  const base = smokeSpendInputs()[0] as SpendPolicyInput;
  const out: SpendPolicyInput[] = [];
  for (let i = 0; i < 64; i++) {
    out.push({
      ...base,
      local_time: { weekday: 1 + (i % 7), minute_of_day: (i * 37) % 1440 },
      request: {
        ...base.request,
        amount: 1_000 + i * 10,
        merchant: {
          id: `mer_${i}`,
          mcc: MCCS[i % MCCS.length] as string,
          country: COUNTRIES[i % COUNTRIES.length] as string,
        },
      },
    });
  }
  return out;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-bench-rules-'));
  const { outFile } = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz'), revision: 'bench-base' });
  const base = await loadPolicy(new Uint8Array(await readFile(outFile)));
  if (!base.source) throw new Error('the base keeps no source');
  const rules20 = await loadPolicy((await buildRulesBundle(base.source, rules(20))).bytes, { keepSource: false });
  const rules200 = await loadPolicy((await buildRulesBundle(base.source, rules(200))).bytes, { keepSource: false });
  const rego = await loadPolicy(await vendorPolicy('bench-rego', ['mer_1', 'mer_2', 'mer_3']), { keepSource: false });
  const list = inputs();
  const layered = (org: LoadedPolicy | null) => (i: number) => {
    const input = list[i % list.length] as SpendPolicyInput;
    return layerDecisions(base.evaluateSpend(input), org ? org.evaluateSpend(input) : null);
  };
  const cases: [string, (i: number) => unknown][] = [
    ['base alone (baseline)', layered(null)],
    ['base alone (A/A control)', layered(null)],
    ['base + Rego org policy', layered(rego)],
    ['base + 20 rules', layered(rules20)],
    ['base + 200 rules', layered(rules200)],
  ];
  const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of round % 2 === 0 ? cases : [...cases].reverse()) {
      samples.get(name)?.push(...(await sample(Math.floor(N / ROUNDS), WARMUP, fn)));
    }
  }
  const now = Date.now();
  const zones = ['America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'UTC'];
  const cached = await sample(N, WARMUP, () => localTimeAt(now, 'America/New_York'));
  // A new minute on every call: the Intl formatting itself.
  const uncached = await sample(N, WARMUP, (i) => localTimeAt(now + i * 60_000, zones[i % zones.length] as string));

  const baseline = summarize(samples.get('base alone (baseline)') as number[]);
  const rows: Record<string, string | number>[] = [];
  const result: Record<string, unknown> = {};
  for (const [name] of cases) {
    const s = summarize(samples.get(name) as number[]);
    rows.push({
      case: name,
      p50_us: s.p50_us,
      p99_us: s.p99_us,
      mean_us: s.mean_us,
      vs_baseline_p50: (s.p50_us / baseline.p50_us).toFixed(2),
    });
    result[name] = s;
  }
  for (const [name, s] of [
    ['localTimeAt, cached minute', summarize(cached)],
    ['localTimeAt, new minute each call', summarize(uncached)],
  ] as const) {
    rows.push({ case: name, p50_us: s.p50_us, p99_us: s.p99_us, mean_us: s.mean_us, vs_baseline_p50: '' });
    result[name] = s;
  }
  printTable(rows);
  console.log(JSON.stringify({ bench: 'rules', n: N, rounds: ROUNDS, result }));
}

await main();
