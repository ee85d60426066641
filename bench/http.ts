// HTTP benchmark: POST /v1/authorize against a baseline route on the same stack (processor auth, rate
// limit, JSON body, empty handler), then a fixed 1,000 req/s run for the p99, and authorize with the audit
// trail on (default: drafts written with each decision, chained in the background) against a twin server
// with audit off, interleaved. Servers run in child processes so autocannon does not share their event loop.
// Usage: npm run bench:http   (BENCH_SECONDS=10 BENCH_CONNECTIONS=32 BENCH_AUDIT_ROUNDS=8 BENCH_AUDIT_SECONDS=5;
// BENCH_PIN=1 pins the servers and the load generator to separate cores with taskset;
// BENCH_COMPARE=address_limit runs the interleaved pairs with the per-address limit off and on instead of
// the audit trail, both servers with audit on; BENCH_COMPARE=api_key runs them on one server, authenticated by
// a client-signed JWT against the same credential's x-api-key)
// The server reports its own CPU time per request of the baseline and authorize runs, and, in the same run
// and process, the p50 of an Ed25519 decision signature, of one policy evaluation and of engine.authorize
// (memory store, one in flight): the ratio the baseline's CPU and these costs allow at most is printed
// beside the measured one (`ratio_ceiling_sign_eval`, `ratio_ceiling_engine`).
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import jwt from 'jsonwebtoken';
import { MemoryAdapter, MemoryCredentialStorage } from '../adapters/memory/index.js';
import { createJwsSigner, generateSigningKey } from '../src/crypto/index.js';
import { createEngine, type Engine } from '../src/engine/index.js';
import { createApp } from '../src/http/index.js';
import { loadPolicy, type SpendPolicyInput } from '../src/policy/index.js';
import { projectRoot } from '../src/util/project-root.js';
import { benchRoutes } from './bench-routes.js';
import { sample, summarize } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const FIXED_RATE = 1000;
const FIXED_CONNECTIONS = 4;
const AUDIT_ROUNDS = Number(process.env.BENCH_AUDIT_ROUNDS ?? 8);
const AUDIT_SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 5);
/** BENCH_PIN=1 pins servers to the last core and the load generator to the others (Linux taskset). */
const PIN = process.env.BENCH_PIN === '1';
/** What the interleaved twin servers differ in: the audit trail (default) or the per-address limit. */
const COMPARE =
  process.env.BENCH_COMPARE === 'address_limit' || process.env.BENCH_COMPARE === 'api_key'
    ? process.env.BENCH_COMPARE
    : 'audit';

interface Ready {
  port: number;
  keyId: string;
  secret: string;
  reference: string;
}

/** An org, a processor, an agent with an authority and a binding of `reference` to the processor. */
async function world(engine: Engine, reference: string): Promise<{ processorId: string; orgId: string }> {
  const org = await engine.createOrg({ name: 'Bench' });
  const processor = await engine.createProcessor({ name: 'Bench Pay' });
  const agent = await engine.createAgent(org.id, { name: 'buyer' });
  const authority = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD' });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference },
  });
  return { processorId: processor.id, orgId: org.id };
}

/** p50s in microseconds of what an authorize cannot do without, measured in this process. */
interface Floor {
  sign_p50_us: number;
  policy_eval_p50_us: number;
  engine_authorize_p50_us: number;
}

/**
 * The floor of one authorize in the server's process, on an engine of its own (memory store, one call in
 * flight) so the served engine's store is left as it is: an Ed25519 signature of a decision, one policy
 * evaluation of the input that engine evaluates, and engine.authorize.
 */
async function measureFloor(policy: Awaited<ReturnType<typeof loadPolicy>>, auditOn: boolean): Promise<Floor> {
  let input: SpendPolicyInput | undefined;
  // The policy as it is (its own, frozen, fields inherited), but for the input of its spend evaluations kept.
  const spied = Object.create(policy, {
    evaluateSpend: {
      value: (i: SpendPolicyInput) => {
        input = i;
        return policy.evaluateSpend(i);
      },
    },
  }) as typeof policy;
  const engine = createEngine({ store: new MemoryAdapter(), policy: spied, audit: { enabled: auditOn } });
  await engine.init();
  const { processorId } = await world(engine, 'tok_floor');
  const authorizeOne = (i: number) => engine.authorize(processorId, JSON.parse(body('tok_floor', `pa_floor_${i}`)));
  const decision = await authorizeOne(-1);
  if (!input) throw new Error('the floor engine evaluated no policy');
  const evaluated = input;
  const sign = createJwsSigner(generateSigningKey());
  const { proof: _proof, ...unsigned } = decision as unknown as Record<string, unknown>;
  const n = 2000;
  const signed = summarize(await sample(n, 500, () => sign(unsigned)));
  const evals = summarize(await sample(n, 500, () => policy.evaluateSpend(evaluated)));
  const authorizes = summarize(await sample(n, 500, authorizeOne));
  return {
    sign_p50_us: signed.p50_us,
    policy_eval_p50_us: evals.p50_us,
    engine_authorize_p50_us: authorizes.p50_us,
  };
}

async function serve(auditOn: boolean, addressLimitOn: boolean): Promise<void> {
  const policy = await loadPolicy(new Uint8Array(await readFile(join(projectRoot(), 'build/policies/bundle.tar.gz'))));
  const store = new MemoryAdapter();
  const chainIntervalMs = process.env.BENCH_CHAIN_INTERVAL_MS ? Number(process.env.BENCH_CHAIN_INTERVAL_MS) : undefined;
  const engine = createEngine({ store, policy, audit: { enabled: auditOn, chainIntervalMs } });
  await engine.init();
  const app = createApp({
    engine,
    credentials: new MemoryCredentialStorage(),
    masterKey: randomBytes(32),
    rateLimit: { perSecond: 10_000_000, burst: 10_000_000 },
    // Never reached, but counted on every request like a real limit; off (null) only in the comparison.
    addressRateLimit: addressLimitOn ? { perSecond: 10_000_000, burst: 10_000_000 } : null,
    extraRoutes: benchRoutes(),
  });
  await app.start();
  const reference = 'tok_bench';
  const { processorId, orgId } = await world(engine, reference);
  const cred = await app.services.credentials.create('processor', processorId, 'bench', undefined, {
    apiKeyAuth: true,
  });
  // Exit cleanly on SIGTERM, so a child run with --cpu-prof writes its profile.
  process.once('SIGTERM', () => process.exit(0));
  // The parent asks, after the runs, whether the chainer kept up; the CPU time this process has used (per
  // request of a run); and the floor of one authorize.
  process.on('message', async (m) => {
    if (m === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ cpu_us: user + system });
    } else if (m === 'floor') {
      process.send?.(await measureFloor(policy, auditOn));
    } else if (m === 'audit_stats') {
      const head = await store.getAuditHead(orgId);
      const backlog = (await store.listAuditOutbox(1_000_000)).length;
      process.send?.({ head_seq: head?.seq ?? 0, backlog });
    }
  });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const ready: Ready = {
      port: (server.address() as AddressInfo).port,
      keyId: cred.key_id,
      secret: cred.secret,
      reference,
    };
    process.send?.(ready);
  });
}

function body(reference: string, id: string): string {
  return JSON.stringify({
    authorization_id: id,
    credential_reference: reference,
    amount: 1850,
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
  });
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((ok, fail) => {
    autocannon(opts, (err, result) => (err ? fail(err) : ok(result)));
  });
}

interface Server {
  child: ReturnType<typeof fork>;
  load(path: string, extra?: Partial<autocannon.Options>, auth?: 'jwt' | 'api_key'): Promise<autocannon.Result>;
  auditStats(): Promise<{ head_seq: number; backlog: number }>;
  /** The server's CPU time so far, in microseconds. */
  cpu(): Promise<number>;
  /** The floor of one authorize, measured in the server's process. */
  floor(): Promise<Floor>;
}

/** Asks the server child `question` and resolves with its answer. */
function ask<T>(child: ReturnType<typeof fork>, question: string): Promise<T> {
  return new Promise((ok) => {
    child.once('message', (m) => ok(m as T));
    child.send(question);
  });
}

/** A run and the server's CPU time per request of it, in microseconds. */
async function withCpu(server: Server, run: () => Promise<autocannon.Result>): Promise<[autocannon.Result, number]> {
  const before = await server.cpu();
  const result = await run();
  const after = await server.cpu();
  return [result, Math.round(((after - before) / Math.max(1, result.requests.total)) * 10) / 10];
}

async function startServer(auditOn: boolean, addressLimitOn = true): Promise<Server> {
  const args = ['--serve', ...(auditOn ? [] : ['--audit-off']), ...(addressLimitOn ? [] : ['--address-limit-off'])];
  // BENCH_SERVER_NODE_ARGS: extra node flags for both servers alike (e.g. GC tuning).
  const execArgv = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = fork(fileURLToPath(import.meta.url), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
  });
  const ready = await new Promise<Ready>((ok, fail) => {
    child.once('message', (m) => ok(m as Ready));
    child.once('exit', (code) => fail(new Error(`bench server exited with ${code}`)));
  });
  if (PIN && child.pid) {
    // Server on the last core, load generator on the others: less cross-talk between the two.
    execFileSync('taskset', ['-a', '-p', '-c', String(cpus().length - 1), String(child.pid)], { stdio: 'ignore' });
  }
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign({ key_id: ready.keyId, iat: now, exp: now + 3600 }, ready.secret, { algorithm: 'HS256' });
  const url = `http://127.0.0.1:${ready.port}`;
  const headers = {
    jwt: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    api_key: { 'x-api-key': `${ready.keyId}.${ready.secret}`, 'content-type': 'application/json' },
  };
  let seq = 0;
  const unique = (path: string, auth: 'jwt' | 'api_key'): autocannon.Request => ({
    method: 'POST',
    path,
    headers: headers[auth],
    setupRequest: (req) => ({ ...req, body: body(ready.reference, `pa_${child.pid}_${++seq}`) }),
  });
  return {
    child,
    load: (path, extra = {}, auth = 'jwt') =>
      run({ url, connections: CONNECTIONS, duration: SECONDS, requests: [unique(path, auth)], ...extra }),
    auditStats: () => ask(child, 'audit_stats'),
    cpu: async () => (await ask<{ cpu_us: number }>(child, 'cpu')).cpu_us,
    floor: () => ask(child, 'floor'),
  };
}

function mean(results: autocannon.Result[]): number {
  return results.reduce((sum, r) => sum + r.requests.average, 0) / results.length;
}

async function main(): Promise<void> {
  if (PIN) {
    const others = Array.from({ length: Math.max(1, cpus().length - 1) }, (_, i) => i).join(',');
    execFileSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' });
  }
  // BENCH_AUDIT_AA=1 starts the "on" server with audit off too: an A/A run that shows the bias of the
  // comparison itself (two processes, same code).
  const aa = process.env.BENCH_AUDIT_AA === '1';
  let on: Server;
  let off: Server;
  if (COMPARE === 'api_key') {
    // One server: "off" authenticates with a client-signed JWT, "on" with the same credential's API key.
    off = await startServer(true);
    const jwtServer = off;
    on = { ...jwtServer, load: (path, extra) => jwtServer.load(path, extra, 'api_key') };
  } else {
    on = COMPARE === 'audit' ? await startServer(!aa) : await startServer(true, true);
    off = COMPARE === 'audit' ? await startServer(false) : await startServer(true, aa);
  }
  const what = COMPARE === 'audit' ? 'audit' : 'address limit';
  const [offName, onName] =
    COMPARE === 'api_key'
      ? ['authorize, JWT', 'authorize, API key']
      : [`authorize, ${what} off`, `authorize, ${what} on`];
  try {
    await on.load('/v1/_bench/echo', { duration: 2 });
    await on.load('/v1/authorize', { duration: 2 });
    await off.load('/v1/authorize', { duration: 2 });
    // Audit off against on first, on stores of the same size, interleaved so drift of the shared machine
    // hits both alike.
    const auditOff: autocannon.Result[] = [];
    const auditOn: autocannon.Result[] = [];
    // Short rounds in pairs, the order alternating (off-on, on-off, …): each pair is measured minutes
    // apart at most, so drift of the shared machine cancels in the pair's ratio; the median of the pair
    // ratios is reported, beside the ratio of the means.
    const short = { duration: AUDIT_SECONDS };
    for (let round = 0; round < AUDIT_ROUNDS; round++) {
      if (round % 2 === 0) {
        auditOff.push(await off.load('/v1/authorize', short));
        auditOn.push(await on.load('/v1/authorize', short));
      } else {
        auditOn.push(await on.load('/v1/authorize', short));
        auditOff.push(await off.load('/v1/authorize', short));
      }
    }
    const pairRatios = auditOn
      .map((r, i) => r.requests.average / (auditOff[i] as autocannon.Result).requests.average)
      .sort((a, b) => a - b);
    const mid = pairRatios.length >> 1;
    const medianRatio =
      pairRatios.length % 2 === 1
        ? (pairRatios[mid] as number)
        : ((pairRatios[mid - 1] as number) + (pairRatios[mid] as number)) / 2;
    const stats = await on.auditStats();
    if (off.child !== on.child) off.child.kill('SIGTERM');
    const [baseline, baselineCpuUs] = await withCpu(on, () => on.load('/v1/_bench/echo'));
    const [authorize, authorizeCpuUs] = await withCpu(on, () => on.load('/v1/authorize'));
    const fixedBaseline = await on.load('/v1/_bench/echo', { connections: FIXED_CONNECTIONS, overallRate: FIXED_RATE });
    const fixed = await on.load('/v1/authorize', { connections: FIXED_CONNECTIONS, overallRate: FIXED_RATE });
    const floor = await on.floor();
    // What the ratio can be at most, were the authorize route to cost the baseline's CPU plus these alone.
    const ceiling = (extraUs: number) => Math.round((baselineCpuUs / (baselineCpuUs + extraUs)) * 1000) / 1000;

    const rows = [
      ['baseline POST /v1/_bench/echo', CONNECTIONS, baseline],
      ['POST /v1/authorize', CONNECTIONS, authorize],
      [`baseline at ${FIXED_RATE}/s`, FIXED_CONNECTIONS, fixedBaseline],
      [`POST /v1/authorize at ${FIXED_RATE}/s`, FIXED_CONNECTIONS, fixed],
      ...auditOff.flatMap((r, i) => [
        [`${offName} (${i + 1})`, CONNECTIONS, r] as const,
        [`${onName} (${i + 1})`, CONNECTIONS, auditOn[i]] as const,
      ]),
    ] as const;
    console.log('run                                    conns    req/s   p50 ms   p99 ms  non2xx  errors');
    for (const [name, conns, result] of rows) {
      const r = result as autocannon.Result;
      const cells = [
        String(conns).padStart(5),
        r.requests.average.toFixed(0).padStart(8),
        r.latency.p50.toFixed(2).padStart(8),
        r.latency.p99.toFixed(2).padStart(8),
        String(r.non2xx).padStart(7),
        String(r.errors).padStart(7),
      ];
      console.log(`${name.padEnd(38)} ${cells.join(' ')}`);
    }
    const summary = {
      bench: 'http',
      compare: COMPARE,
      seconds: SECONDS,
      connections: CONNECTIONS,
      fixed_rate_connections: FIXED_CONNECTIONS,
      baseline_rps: Math.round(baseline.requests.average),
      authorize_rps: Math.round(authorize.requests.average),
      ratio: Math.round((authorize.requests.average / baseline.requests.average) * 1000) / 1000,
      baseline_cpu_us_per_request: baselineCpuUs,
      authorize_cpu_us_per_request: authorizeCpuUs,
      ...floor,
      ratio_ceiling_sign_eval: ceiling(floor.sign_p50_us + floor.policy_eval_p50_us),
      ratio_ceiling_engine: ceiling(floor.engine_authorize_p50_us),
      // CPU of an authorize request beyond the baseline route's and the engine's own.
      around_engine_us_per_request:
        Math.round((authorizeCpuUs - baselineCpuUs - floor.engine_authorize_p50_us) * 10) / 10,
      baseline_p99_ms: baseline.latency.p99,
      authorize_p99_ms: authorize.latency.p99,
      p99_ms_at_1000rps: fixed.latency.p99,
      baseline_p99_ms_at_1000rps: fixedBaseline.latency.p99,
      p50_ms_at_1000rps: fixed.latency.p50,
      rps_at_1000rps: Math.round(fixed.requests.average),
      audit_off_rps: Math.round(mean(auditOff)),
      audit_on_rps: Math.round(mean(auditOn)),
      audit_ratio: Math.round(medianRatio * 1000) / 1000,
      audit_ratio_of_means: Math.round((mean(auditOn) / mean(auditOff)) * 1000) / 1000,
      audit_pair_ratios: pairRatios.map((r) => Math.round(r * 1000) / 1000),
      audit_chain_head_seq: stats.head_seq,
      audit_backlog_after_runs: stats.backlog,
      non2xx: [baseline, authorize, fixed, fixedBaseline, ...auditOn, ...auditOff].reduce((n, r) => n + r.non2xx, 0),
      errors: [baseline, authorize, fixed, fixedBaseline, ...auditOn, ...auditOff].reduce((n, r) => n + r.errors, 0),
    };
    console.log(JSON.stringify(summary));
    if (summary.non2xx > 0 || summary.errors > 0) process.exitCode = 1;
  } finally {
    on.child.kill('SIGTERM');
    off.child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) {
  await serve(!process.argv.includes('--audit-off'), !process.argv.includes('--address-limit-off'));
} else await main();
