import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandStartedEvent } from 'mongodb';
import { MongoClient } from 'mongodb';
import { MemoryAdapter, MemoryQuotaStorage } from '../adapters/memory/index.js';
import { createMongoAdapter, MongoQuotaStorage } from '../adapters/mongodb/index.js';
import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { createJwsSigner, generateSigningKey } from '../src/crypto/index.js';
import { authorize } from '../src/engine/authorize.js';
import { createEngine } from '../src/engine/index.js';
import { encodePolicyInput, loadPolicy, type SpendPolicyInput } from '../src/policy/index.js';
import { buildPolicyBundle } from '../src/policy-build/index.js';
import type { QuotaStorage, StorageAdapter } from '../src/storage/index.js';
import { canonicalJson } from '../src/util/canonical-json.js';
import { type RunningMongoServer, startMongoServer } from '../test/support/mongo-server.js';
import { benchRequest, benchWorld } from './bench-world.js';
import { printTable, sample, summarize } from './stats.js';

const N = Number(process.env.BENCH_N ?? 20_000);
const WARMUP = Math.min(5_000, N);

async function setup(
  store: StorageAdapter,
  policy: Awaited<ReturnType<typeof loadPolicy>>,
  auditOn = true,
  quotas?: QuotaStorage,
) {
  const engine = createEngine({ store, policy, audit: { enabled: auditOn }, ...(quotas ? { quotas } : {}) });
  await engine.init();
  const { orgId, processorId } = await benchWorld(engine, { team: 'ops' });
  let captured: SpendPolicyInput | undefined;
  const spy = {
    revision: policy.revision,
    manifest: policy.manifest,
    evaluateSpend(input: SpendPolicyInput) {
      captured = input;
      return policy.evaluateSpend(input);
    },
    evaluateIntent: policy.evaluateIntent.bind(policy),
  };
  const probe = createEngine({ store, policy: spy, audit: { enabled: auditOn } });
  const request = (i: number) => benchRequest('pa_bench', i);
  const d = await probe.authorize(processorId, request(-1));
  if (d.action !== 'ALLOW' || !captured)
    throw new Error(`bench setup: expected ALLOW, got ${d.action} ${d.reason_codes}`);
  return { engine, orgId, processorId, request, input: captured, decision: d };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-bench-'));
  const { outFile, revision } = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz') });
  const policy = await loadPolicy(new Uint8Array(await readFile(outFile)));
  const mem = await setup(new MemoryAdapter(), policy);
  const input = mem.input;
  const key = generateSigningKey();
  const sign = createJwsSigner(key);
  // The fields of a decision authorize signed (every field but the proof): the signature's cost grows with
  // the payload, so the baseline signs what authorize signs, as bench:http's floor does.
  const { proof: _proof, ...unsigned } = mem.decision as unknown as Record<string, unknown>;

  const rows: Record<string, string | number>[] = [];
  const results: Record<string, ReturnType<typeof summarize>> = {};
  const run = async (name: string, what: string, fn: (i: number) => unknown) => {
    const s = summarize(await sample(N, WARMUP, fn));
    results[name] = s;
    rows.push({ case: name, what, n: s.n, p50_us: s.p50_us, p90_us: s.p90_us, p99_us: s.p99_us, mean_us: s.mean_us });
  };

  // Baselines of the same run: the fixed costs every authorization pays outside policy and storage.
  await run('baseline_sha256', 'SHA-256 of the canonical request', (i) =>
    createHash('sha256')
      .update(canonicalJson(mem.request(i)))
      .digest('hex'),
  );
  await run('baseline_sign', 'Ed25519 compact JWS of an authorize decision', () => sign(unsigned));
  await run('baseline_encode', 'JSON + ArrayBuffer of the policy input', () => encodePolicyInput(input));
  await run('policy_eval', 'evaluateSpend (WASM), realistic input', () => policy.evaluateSpend(input));
  await run('authorize_memory', 'engine.authorize, memory store, 1 in flight', (i) =>
    mem.engine.authorize(mem.processorId, mem.request(i)),
  );

  // SQLite in a file of this run (WAL, synchronous NORMAL: what `npm start` uses), same requests.
  {
    const store = new SqliteAdapter({ path: join(dir, 'bench.db') });
    const lite = await setup(store, policy);
    await run('authorize_sqlite', 'engine.authorize, SQLite file, 1 in flight', (i) =>
      lite.engine.authorize(lite.processorId, lite.request(i)),
    );
    await store.close();
  }

  // The time budget's own cost (a store view per call, a timer, an abort signal): budgeted and bare
  // authorize on one engine, interleaved call by call so both see the same store and the same machine.
  {
    const bare = (i: number) => authorize(mem.engine.context, mem.processorId, mem.request(i));
    const budgeted = (i: number) => mem.engine.authorize(mem.processorId, mem.request(i));
    const base = 10_000_000;
    for (let i = 0; i < WARMUP; i++) await (i % 2 === 0 ? bare : budgeted)(base + i);
    const samples: [number[], number[]] = [[], []];
    for (let i = 0; i < 2 * N; i++) {
      const t0 = process.hrtime.bigint();
      await (i % 2 === 0 ? bare : budgeted)(base + WARMUP + i);
      samples[i % 2]?.push(Number(process.hrtime.bigint() - t0));
    }
    for (const [name, what, ns] of [
      ['authorize_bare', 'authorize without the time budget (baseline, interleaved)', samples[0]],
      ['authorize_budgeted', 'engine.authorize with its time budget (interleaved)', samples[1]],
    ] as const) {
      const s = summarize(ns);
      results[name] = s;
      rows.push({ case: name, what, n: s.n, p50_us: s.p50_us, p90_us: s.p90_us, p99_us: s.p99_us, mean_us: s.mean_us });
    }
  }

  // Quotas: an org with a plan (every limit set) against one without, interleaved call by call on two memory
  // engines. Decisions are counted off the authorize path, from the audit chain after linking; the cost of
  // that counting is timed apart: link a run's decisions, then count them all in one catch-up.
  const quota: { count_us_per_decision: number | null } = { count_us_per_decision: null };
  {
    const quotas = new MemoryQuotaStorage();
    const plannedStore = new MemoryAdapter();
    const planned = await setup(plannedStore, policy, true, quotas);
    await planned.engine.quotas.setPlan(planned.orgId, { decisions_per_month: 1_000, agents: 10, webhooks: 10 });
    const plain = await setup(new MemoryAdapter(), policy, true);
    const base = 20_000_000;
    for (let i = 0; i < WARMUP; i++) {
      const e = i % 2 === 0 ? plain : planned;
      await e.engine.authorize(e.processorId, e.request(base + i));
    }
    const samples: [number[], number[]] = [[], []];
    for (let i = 0; i < 2 * N; i++) {
      const e = i % 2 === 0 ? plain : planned;
      const t0 = process.hrtime.bigint();
      await e.engine.authorize(e.processorId, e.request(base + WARMUP + i));
      samples[i % 2]?.push(Number(process.hrtime.bigint() - t0));
    }
    for (const [name, what, ns] of [
      ['authorize_no_plan', 'engine.authorize, org without a plan (baseline, interleaved)', samples[0]],
      ['authorize_plan', 'engine.authorize, org with a plan and quota storage (interleaved)', samples[1]],
    ] as const) {
      const s = summarize(ns);
      results[name] = s;
      rows.push({ case: name, what, n: s.n, p50_us: s.p50_us, p90_us: s.p90_us, p99_us: s.p99_us, mean_us: s.mean_us });
    }
    await planned.engine.audit.chainer.drain();
    await planned.engine.quotas.settled();
    // The engine counted in the background while its chainer linked; a second engine with empty quota
    // storage counts the same chain from the start, timed alone.
    const recount = createEngine({ store: plannedStore, policy, quotas: new MemoryQuotaStorage() });
    const t0 = process.hrtime.bigint();
    await recount.quotas.countDecisions(planned.orgId);
    const elapsedNs = Number(process.hrtime.bigint() - t0);
    const counted = (await recount.quotas.getUsage(planned.orgId)).decisions.used;
    const background = (await planned.engine.quotas.getUsage(planned.orgId)).decisions.used;
    if (counted !== background)
      throw new Error(`bench quotas: counted ${counted} again, ${background} in the background`);
    quota.count_us_per_decision = counted > 0 ? Math.round((elapsedNs / 1000 / counted) * 100) / 100 : null;
    console.log(`quota counting: ${counted} decisions counted in one catch-up, ${quota.count_us_per_decision} µs each`);
  }

  // Memory retained per decision on the memory store, after GC (needs --expose-gc): heap growth over
  // MEMORY_N decisions on a fresh store, with the audit trail off and on.
  const retained: Record<string, number | null> = { off: null, on: null };
  const gc = (globalThis as { gc?: () => void }).gc;
  const alive: unknown[] = [];
  if (gc) {
    const MEMORY_N = Math.min(N, 10_000);
    for (const mode of ['off', 'on'] as const) {
      const fresh = await setup(new MemoryAdapter(), policy, mode === 'on');
      for (let i = 0; i < 1_000; i++) await fresh.engine.authorize(fresh.processorId, fresh.request(20_000_000 + i));
      gc();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < MEMORY_N; i++) await fresh.engine.authorize(fresh.processorId, fresh.request(30_000_000 + i));
      gc();
      gc();
      retained[mode] = Math.round((process.memoryUsage().heapUsed - before) / MEMORY_N);
      // Reachable until after the measurement, so the store's growth is counted, not collected.
      alive.push(fresh);
    }
    alive.length = 0;
  }

  // The MongoDB row runs against BENCH_MONGODB_URI, else against the test wire server started here.
  let server: RunningMongoServer | null = null;
  let mongoUri = process.env.BENCH_MONGODB_URI;
  let mongoServerName = mongoUri ? 'BENCH_MONGODB_URI' : 'test wire server (mongo-java-server)';
  if (!mongoUri) {
    try {
      server = await startMongoServer();
      mongoUri = server.uri;
    } catch (err) {
      mongoServerName = `skipped: ${(err as Error).message}`;
    }
  }
  const trips: Record<string, { round_trips: number; commands: string[] } | null> = {
    allow: null,
    deny: null,
    replay: null,
  };
  if (mongoUri) {
    // Round trips counted with the driver's command monitoring: a command started while none is in flight
    // opens a new round trip; commands started while another is in flight share it (sent in parallel).
    const client = new MongoClient(mongoUri, { monitorCommands: true });
    await client.connect();
    let inFlight = 0;
    let roundTrips = 0;
    let commands: string[] = [];
    let recording = false;
    client.on('commandStarted', (e: CommandStartedEvent) => {
      if (!recording) return;
      if (inFlight === 0) roundTrips++;
      inFlight++;
      started.add(e.requestId);
      commands.push(`${e.commandName}:${String((e.command as Record<string, unknown>)[e.commandName])}`);
    });
    // Only commands started while counting: a read an earlier call left running (a replay answers before
    // the resolution reads sent beside its record read are back) must not end a round trip of this one.
    const started = new Set<number>();
    const done = (e: { requestId: number }) => {
      if (started.delete(e.requestId)) inFlight--;
    };
    client.on('commandSucceeded', done);
    client.on('commandFailed', done);
    const store = createMongoAdapter({ client, dbName: `bench_${process.pid}` });
    // With quota storage and a plan set, so the counts below show what a plan adds to authorize (nothing).
    const mongo = await setup(store, policy, true, new MongoQuotaStorage({ client, dbName: `bench_${process.pid}` }));
    await mongo.engine.quotas.setPlan(mongo.orgId, { decisions_per_month: 1_000_000, agents: 10, webhooks: 10 });
    const count = async (fn: () => Promise<{ action: string }>, expect: string) => {
      roundTrips = 0;
      inFlight = 0;
      started.clear();
      commands = [];
      recording = true;
      const d = await fn();
      recording = false;
      if (d.action !== expect) throw new Error(`bench round trips: expected ${expect}, got ${d.action}`);
      return { round_trips: roundTrips, commands };
    };
    // A server's steady state before counting: a warm connection pool (reads sent at once need a connection
    // each) and a usage document whose holds have been moved out at least once.
    for (let i = 0; i < 40; i++) await mongo.engine.authorize(mongo.processorId, mongo.request(-100 - i));
    const allowReq = mongo.request(-3);
    trips.allow = await count(() => mongo.engine.authorize(mongo.processorId, allowReq), 'ALLOW');
    trips.replay = await count(() => mongo.engine.authorize(mongo.processorId, allowReq), 'ALLOW');
    const denyReq = {
      ...mongo.request(-4),
      merchant: { id: 'mer_casino', name: 'Casino', mcc: '7995', country: 'US' },
    };
    trips.deny = await count(() => mongo.engine.authorize(mongo.processorId, denyReq), 'DENY');
    const n = Math.min(N, 2_000);
    const s = summarize(await sample(n, 200, (i) => mongo.engine.authorize(mongo.processorId, mongo.request(i))));
    results.authorize_mongodb = s;
    rows.push({
      case: 'authorize_mongodb',
      what: 'engine.authorize, MongoDB, 1 in flight',
      n: s.n,
      p50_us: s.p50_us,
      p90_us: s.p90_us,
      p99_us: s.p99_us,
      mean_us: s.mean_us,
    });
    await store.close();
    await client.close();
  }
  await server?.stop();
  for (const [k, v] of Object.entries(trips)) {
    if (v)
      console.log(
        `MongoDB ${k}: ${v.round_trips} round trips, ${v.commands.length} commands: ${v.commands.join(', ')}`,
      );
  }
  console.log(`MongoDB row: ${mongoServerName}`);

  console.log(
    `engine benchmark: node ${process.version}, policy revision ${revision}, input ${JSON.stringify(input).length} bytes`,
  );
  printTable(rows);
  const pick = (k: string, f: 'p50_us' | 'p99_us') => results[k]?.[f] ?? null;
  console.log(
    JSON.stringify({
      bench: 'engine',
      n: N,
      policy_eval_p50_us: pick('policy_eval', 'p50_us'),
      policy_eval_p99_us: pick('policy_eval', 'p99_us'),
      authorize_p50_us: pick('authorize_memory', 'p50_us'),
      authorize_p99_us: pick('authorize_memory', 'p99_us'),
      authorize_bare_p50_us: pick('authorize_bare', 'p50_us'),
      authorize_budgeted_p50_us: pick('authorize_budgeted', 'p50_us'),
      authorize_bare_p99_us: pick('authorize_bare', 'p99_us'),
      authorize_budgeted_p99_us: pick('authorize_budgeted', 'p99_us'),
      authorize_no_plan_p50_us: pick('authorize_no_plan', 'p50_us'),
      authorize_plan_p50_us: pick('authorize_plan', 'p50_us'),
      authorize_no_plan_p99_us: pick('authorize_no_plan', 'p99_us'),
      authorize_plan_p99_us: pick('authorize_plan', 'p99_us'),
      quota_count_us_per_decision: quota.count_us_per_decision,
      authorize_sqlite_p50_us: pick('authorize_sqlite', 'p50_us'),
      authorize_sqlite_p99_us: pick('authorize_sqlite', 'p99_us'),
      authorize_mongodb_p50_us: pick('authorize_mongodb', 'p50_us'),
      authorize_mongodb_p99_us: pick('authorize_mongodb', 'p99_us'),
      baseline_sign_p50_us: pick('baseline_sign', 'p50_us'),
      baseline_sha256_p50_us: pick('baseline_sha256', 'p50_us'),
      baseline_encode_p50_us: pick('baseline_encode', 'p50_us'),
      // authorize_p50_us against the sum of its two irreducible parts, same run (target ≤ 1.3).
      authorize_vs_sign_plus_eval:
        results.authorize_memory && results.baseline_sign && results.policy_eval
          ? Math.round(
              (results.authorize_memory.p50_us / (results.baseline_sign.p50_us + results.policy_eval.p50_us)) * 100,
            ) / 100
          : null,
      mongodb_round_trips_allow: trips.allow?.round_trips ?? null,
      mongodb_round_trips_deny: trips.deny?.round_trips ?? null,
      mongodb_round_trips_replay: trips.replay?.round_trips ?? null,
      mongodb_commands_allow: trips.allow?.commands.length ?? null,
      mongodb_commands_deny: trips.deny?.commands.length ?? null,
      mongodb_commands_replay: trips.replay?.commands.length ?? null,
      memory_bytes_per_decision: retained.off,
      memory_bytes_per_decision_audit: retained.on,
      targets: {
        policy_eval_p50_us: 10,
        authorize_p50_us: 50,
        authorize_p99_us: 150,
        authorize_vs_sign_plus_eval: 1.3,
        mongodb_round_trips_allow: 3,
        mongodb_round_trips_deny: 2,
        mongodb_round_trips_replay: 1,
        memory_bytes_per_decision: 2048,
      },
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
