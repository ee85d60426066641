// HTTP benchmark: POST /v1/authorize against a baseline route on the same stack (processor auth, rate
// limit, JSON body, empty handler), then a fixed 1,000 req/s run for the p99. The server runs in a child
// process so autocannon does not share its event loop.
// Usage: npm run bench:http   (BENCH_SECONDS=10 BENCH_CONNECTIONS=32 by default)
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import jwt from 'jsonwebtoken';
import { MemoryAdapter, MemoryCredentialStorage } from '../adapters/memory/index.js';
import { createEngine } from '../src/engine/index.js';
import { createApp } from '../src/http/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { projectRoot } from '../src/policy/project-root.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const FIXED_RATE = 1000;
const FIXED_CONNECTIONS = 4;

interface Ready {
  port: number;
  keyId: string;
  secret: string;
  reference: string;
}

async function serve(): Promise<void> {
  const policy = await loadPolicy(new Uint8Array(await readFile(join(projectRoot(), 'build/policies/bundle.tar.gz'))));
  const store = new MemoryAdapter();
  const engine = createEngine({ store, policy });
  await engine.init();
  const app = createApp({
    engine,
    credentials: new MemoryCredentialStorage(),
    masterKey: randomBytes(32),
    rateLimit: { perSecond: 10_000_000, burst: 10_000_000 },
    benchRoute: true,
  });
  await app.start();
  const org = await engine.createOrg({ name: 'Bench' });
  const processor = await engine.createProcessor({ name: 'Bench Pay' });
  const agent = await engine.createAgent(org.id, { name: 'buyer' });
  const authority = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD' });
  const reference = 'tok_bench';
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference },
  });
  const cred = await app.services.credentials.create('processor', processor.id, 'bench');
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

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<Ready>((ok, fail) => {
    child.once('message', (m) => ok(m as Ready));
    child.once('exit', (code) => fail(new Error(`bench server exited with ${code}`)));
  });
  try {
    const now = Math.floor(Date.now() / 1000);
    const token = jwt.sign({ key_id: ready.keyId, iat: now, exp: now + 3600 }, ready.secret, { algorithm: 'HS256' });
    const url = `http://127.0.0.1:${ready.port}`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    let seq = 0;
    const unique = (path: string): autocannon.Request => ({
      method: 'POST',
      path,
      headers,
      setupRequest: (req) => ({ ...req, body: body(ready.reference, `pa_${process.pid}_${++seq}`) }),
    });
    const load = (path: string, extra: Partial<autocannon.Options> = {}) =>
      run({ url, connections: CONNECTIONS, duration: SECONDS, requests: [unique(path)], ...extra });

    await load('/v1/_bench/echo', { duration: 2 });
    await load('/v1/authorize', { duration: 2 });
    const baseline = await load('/v1/_bench/echo');
    const authorize = await load('/v1/authorize');
    const fixedBaseline = await load('/v1/_bench/echo', { connections: FIXED_CONNECTIONS, overallRate: FIXED_RATE });
    const fixed = await load('/v1/authorize', { connections: FIXED_CONNECTIONS, overallRate: FIXED_RATE });

    const rows = [
      ['baseline POST /v1/_bench/echo', CONNECTIONS, baseline],
      ['POST /v1/authorize', CONNECTIONS, authorize],
      [`baseline at ${FIXED_RATE}/s`, FIXED_CONNECTIONS, fixedBaseline],
      [`POST /v1/authorize at ${FIXED_RATE}/s`, FIXED_CONNECTIONS, fixed],
    ] as const;
    console.log('run                                    conns    req/s   p50 ms   p99 ms  non2xx  errors');
    for (const [name, conns, r] of rows) {
      console.log(
        `${name.padEnd(38)} ${String(conns).padStart(5)} ${r.requests.average.toFixed(0).padStart(8)} ${r.latency.p50
          .toFixed(2)
          .padStart(
            8,
          )} ${r.latency.p99.toFixed(2).padStart(8)} ${String(r.non2xx).padStart(7)} ${String(r.errors).padStart(7)}`,
      );
    }
    const summary = {
      bench: 'http',
      seconds: SECONDS,
      connections: CONNECTIONS,
      fixed_rate_connections: FIXED_CONNECTIONS,
      baseline_rps: Math.round(baseline.requests.average),
      authorize_rps: Math.round(authorize.requests.average),
      ratio: Math.round((authorize.requests.average / baseline.requests.average) * 1000) / 1000,
      baseline_p99_ms: baseline.latency.p99,
      authorize_p99_ms: authorize.latency.p99,
      p99_ms_at_1000rps: fixed.latency.p99,
      baseline_p99_ms_at_1000rps: fixedBaseline.latency.p99,
      p50_ms_at_1000rps: fixed.latency.p50,
      rps_at_1000rps: Math.round(fixed.requests.average),
      non2xx: baseline.non2xx + authorize.non2xx + fixed.non2xx + fixedBaseline.non2xx,
      errors: baseline.errors + authorize.errors + fixed.errors + fixedBaseline.errors,
    };
    console.log(JSON.stringify(summary));
    if (summary.non2xx > 0 || summary.errors > 0) process.exitCode = 1;
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
