// Workers benchmark: `allowance serve` on a fresh SQLite file with 1 worker and with 2 (`--workers 2`,
// node:cluster), POST /v1/authorize driven by autocannon from this process pinned to one core (taskset).
// Rounds alternate the order (1 then 2, 2 then 1, ...) so drift of a shared machine hits both alike; each
// round starts a new server on a new file, sets up an org, processor, agent, authority and binding through
// the API, warms up, then measures. The servers are not pinned: the workers run where the OS puts them, so
// on a machine with as many cores as workers the load generator shares a core with a worker (the JSON line
// says so). Logging stays at the default level (info), written to a file as in production.
// Usage: npm run bench:workers   (BENCH_SECONDS=10 BENCH_WARMUP_SECONDS=3 BENCH_CONNECTIONS=16 BENCH_ROUNDS=3
// BENCH_LOAD_CORE=<core> (default the last one) BENCH_WORKERS=1,2)
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import jwt from 'jsonwebtoken';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CORES = cpus().length;
const LOAD_CORE = Number(process.env.BENCH_LOAD_CORE ?? CORES - 1);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const CLI = fileURLToPath(new URL('../src/cli/allowance.js', import.meta.url));
const HIGH = '10000000';

interface Credential {
  key_id: string;
  secret: string;
}

interface Measured {
  workers: number;
  round: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  errors: number;
}

function token(cred: Credential, seconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ key_id: cred.key_id, iat: now, exp: now + seconds }, cred.secret, { algorithm: 'HS256' });
}

// biome-ignore lint/suspicious/noExplicitAny: set-up reads arbitrary JSON
async function call(url: string, path: string, cred: Credential, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token(cred, 300)}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`set-up ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** An org, a processor with a credential, an agent, an authority (limits far above the run) and a binding. */
async function setUp(url: string, operator: Credential): Promise<{ processor: Credential; reference: string }> {
  const org = await call(url, '/v1/orgs', operator, { name: 'Bench' });
  const processor = await call(url, '/v1/processors', operator, { name: 'Bench Pay' });
  const enterprise = await call(url, `/v1/orgs/${org.id}/credentials`, operator, { name: 'ops' });
  const processorCred = await call(url, `/v1/processors/${processor.id}/credentials`, operator);
  const agent = await call(url, '/v1/agents', enterprise, { name: 'buyer' });
  const authority = await call(url, '/v1/authorities', enterprise, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 50_000, daily: 1_000_000_000_000 },
  });
  const reference = `tok_${randomBytes(8).toString('hex')}`;
  await call(url, '/v1/bindings', enterprise, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference },
  });
  return { processor: processorCred, reference };
}

/** Starts `allowance serve --workers n` on a new data directory; resolves with its port once every worker listens. */
async function startServe(workers: number) {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-bench-workers-'));
  const operator: Credential = {
    key_id: `op_${randomBytes(8).toString('hex')}`,
    secret: `sk_${randomBytes(32).toString('base64url')}`,
  };
  const { MONGODB_URI: _uri, ALLOWANCE_STORE: _store, ...env } = process.env;
  const logPath = join(dir, 'serve.log');
  const log = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--workers', String(workers), '--port', '0', '--host', '127.0.0.1'],
    {
      env: {
        ...env,
        ALLOWANCE_DATA_DIR: join(dir, 'data'),
        ALLOWANCE_SPOOL_DIR: join(dir, 'spool'),
        ALLOWANCE_OPERATOR_KEY_ID: operator.key_id,
        ALLOWANCE_OPERATOR_SECRET: operator.secret,
        // The load comes from one credential and one address: limits far above it.
        ALLOWANCE_RATE_LIMIT_RPS: HIGH,
        ALLOWANCE_RATE_LIMIT_BURST: HIGH,
        ALLOWANCE_ADDRESS_RATE_LIMIT_RPS: HIGH,
        ALLOWANCE_ADDRESS_RATE_LIMIT_BURST: HIGH,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', log, log],
    },
  );
  closeSync(log);
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const event = workers > 1 ? '"event":"workers_listening"' : '"event":"listening"';
  let port = 0;
  for (const started = Date.now(); port === 0; ) {
    if (gone) throw new Error(`serve exited: ${await readFile(logPath, 'utf8')}`);
    if (Date.now() - started > 120_000) throw new Error(`serve did not start: ${await readFile(logPath, 'utf8')}`);
    await new Promise((ok) => setTimeout(ok, 100));
    for (const line of (await readFile(logPath, 'utf8')).split('\n')) {
      if (line.includes(event)) port = (JSON.parse(line) as { port: number }).port;
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    operator,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      await rm(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`serve stopped with ${code}`);
    },
  };
}

function load(url: string, processor: Credential, reference: string, seconds: number): Promise<autocannon.Result> {
  const headers = { authorization: `Bearer ${token(processor)}`, 'content-type': 'application/json' };
  const prefix = `pa_${randomBytes(4).toString('hex')}_`;
  let seq = 0;
  return new Promise((ok, fail) => {
    autocannon(
      {
        url,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            path: '/v1/authorize',
            headers,
            setupRequest: (req) => ({
              ...req,
              body: JSON.stringify({
                authorization_id: `${prefix}${++seq}`,
                credential_reference: reference,
                amount: 1850,
                currency: 'USD',
                merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
                channel: 'online',
              }),
            }),
          },
        ],
      },
      (err, result) => (err ? fail(err) : ok(result)),
    );
  });
}

async function measure(workers: number, round: number): Promise<Measured> {
  const serve = await startServe(workers);
  try {
    const { processor, reference } = await setUp(serve.url, serve.operator);
    await load(serve.url, processor, reference, WARMUP_SECONDS);
    const r = await load(serve.url, processor, reference, SECONDS);
    return {
      workers,
      round,
      rps: Math.round(r.requests.average),
      p50_ms: r.latency.p50,
      p99_ms: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
    };
  } finally {
    await serve.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  // The load generator (this process: autocannon) on one core; the servers it starts are moved off it by
  // nothing, so with as many workers as cores one of them shares it.
  execFileSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  const results: Measured[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? WORKER_COUNTS : [...WORKER_COUNTS].reverse();
    for (const n of order) results.push(await measure(n, round));
  }
  console.log('round  workers    req/s   p50 ms   p99 ms  non2xx  errors');
  for (const r of results) {
    console.log(
      [
        String(r.round).padStart(5),
        String(r.workers).padStart(8),
        String(r.rps).padStart(8),
        r.p50_ms.toFixed(2).padStart(8),
        r.p99_ms.toFixed(2).padStart(8),
        String(r.non2xx).padStart(7),
        String(r.errors).padStart(7),
      ].join(' '),
    );
  }
  const by = (n: number) => results.filter((r) => r.workers === n);
  const summary: Record<string, unknown> = {
    bench: 'workers',
    store: 'sqlite',
    route: 'POST /v1/authorize',
    seconds: SECONDS,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    cores: CORES,
    load_generator_core: LOAD_CORE,
    servers_pinned: false,
  };
  for (const n of WORKER_COUNTS) {
    const rs = by(n);
    summary[`workers_${n}`] = {
      rps: Math.round(median(rs.map((r) => r.rps))),
      p50_ms: median(rs.map((r) => r.p50_ms)),
      p99_ms: median(rs.map((r) => r.p99_ms)),
      rounds_rps: rs.map((r) => r.rps),
      // With at least as many workers as cores, a worker runs on the load generator's core too.
      load_generator_shares_a_core: n >= CORES,
    };
  }
  const [first, last] = [WORKER_COUNTS[0] as number, WORKER_COUNTS[WORKER_COUNTS.length - 1] as number];
  if (first !== last) {
    summary[`rps_ratio_${last}_to_${first}`] =
      Math.round((median(by(last).map((r) => r.rps)) / median(by(first).map((r) => r.rps))) * 1000) / 1000;
  }
  summary.non2xx = results.reduce((n, r) => n + r.non2xx, 0);
  summary.errors = results.reduce((n, r) => n + r.errors, 0);
  console.log(JSON.stringify(summary));
  if ((summary.non2xx as number) > 0 || (summary.errors as number) > 0) process.exitCode = 1;
}

await main();
