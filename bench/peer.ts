// Peer benchmark: Allowance `POST /v1/authorize` (memory store, a full signed decision) against a bare OPA
// server (`opa run --server`, the pinned opa from .tools, this repository's Rego) deciding the exact policy
// input stored by a real authorization. Both servers are pinned to the last core, the load generator
// (autocannon, this process) to the others; rounds are interleaved (OPA, Allowance, then Allowance, OPA, …)
// so drift of the shared machine hits both alike; medians are reported. On Linux each server's CPU time per
// request (from /proc) is reported too: what one decision costs the core, whoever else was using it.
// Usage: npm run bench:peer   (BENCH_SECONDS=10 BENCH_CONNECTIONS=16 BENCH_ROUNDS=3)
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import jwt from 'jsonwebtoken';
import { MemoryAdapter, MemoryCredentialStorage } from '../adapters/memory/index.js';
import { createEngine } from '../src/engine/index.js';
import { createApp } from '../src/http/index.js';
import { loadPolicy, SPEND_ENTRYPOINT } from '../src/policy/index.js';
import { findOpa } from '../src/policy-build/opa-cli.js';
import { projectRoot } from '../src/util/project-root.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SERVER_CORE = String(cpus().length - 1);
const LOAD_CORES = Array.from({ length: Math.max(1, cpus().length - 1) }, (_, i) => i).join(',');

interface Ready {
  port: number;
  token: string;
  reference: string;
  policyInput: unknown;
  action: string;
}

/** The Allowance server (child process): memory store, one processor, one binding, one credential. */
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
    addressRateLimit: { perSecond: 10_000_000, burst: 10_000_000 },
  });
  await app.start();
  const org = await engine.createOrg({ name: 'Peer' });
  const processor = await engine.createProcessor({ name: 'Peer Pay' });
  const agent = await engine.createAgent(org.id, { name: 'buyer' });
  const authority = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD' });
  const reference = 'tok_peer';
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference },
  });
  const cred = await app.services.credentials.create('processor', processor.id, 'peer');
  // One real authorization: its stored policy input is what the bare OPA server decides.
  const first = await engine.authorize(processor.id, JSON.parse(body(reference, 'pa_peer_probe')));
  const record = await store.getAuthorization(processor.id, 'pa_peer_probe');
  process.once('SIGTERM', () => process.exit(0));
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign({ key_id: cred.key_id, iat: now, exp: now + 3600 }, cred.secret, { algorithm: 'HS256' });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const ready: Ready = {
      port: (server.address() as AddressInfo).port,
      token,
      reference,
      policyInput: record?.policy_input,
      action: first.action,
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

function pin(pid: number | undefined, cores: string): void {
  if (pid) execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as AddressInfo;
  await new Promise((ok) => srv.close(ok));
  return port;
}

/** `opa run --server` on this repository's Rego (tests, schemas and capabilities left out), access logs off. */
async function startOpa(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const dir = join(projectRoot(), 'policies', 'allowance');
  const files = ['lib.rego', 'spend.rego', 'intent.rego'].map((f) => join(dir, f));
  const child = spawn(
    findOpa(),
    ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '--skip-version-check', ...files],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  child.kill('SIGTERM');
  throw new Error('opa server did not start');
}

/** User + system CPU time of process `pid` in microseconds (Linux /proc), or null where it cannot be read. */
function cpuMicros(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10_000 : null;
  } catch {
    return null;
  }
}

/** A run and its server's CPU time per request, in microseconds (null where unknown). */
async function withCpu(
  pid: number | undefined,
  load: () => Promise<autocannon.Result>,
): Promise<[autocannon.Result, number | null]> {
  const before = cpuMicros(pid);
  const result = await load();
  const after = cpuMicros(pid);
  if (before === null || after === null) return [result, null];
  return [result, Math.round((after - before) / Math.max(1, result.requests.total))];
}

interface Row {
  name: string;
  rps: number;
  /** The server's CPU time per request, in microseconds. */
  cpuUs: number | null;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

function row(name: string, [r, cpuUs]: [autocannon.Result, number | null]): Row {
  return {
    name,
    rps: r.requests.average,
    cpuUs,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

async function main(): Promise<void> {
  pin(process.pid, LOAD_CORES);
  const allowance = fork(fileURLToPath(import.meta.url), ['--serve'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const opa = await startOpa().catch((err) => {
    allowance.kill('SIGTERM');
    throw err;
  });
  try {
    const ready = await new Promise<Ready>((ok, fail) => {
      allowance.once('message', (m) => ok(m as Ready));
      allowance.once('exit', (code) => fail(new Error(`bench server exited with ${code}`)));
    });
    pin(allowance.pid, SERVER_CORE);
    pin(opa.child.pid, SERVER_CORE);
    const opaBody = JSON.stringify({ input: ready.policyInput });
    const opaPath = `/v1/data/${SPEND_ENTRYPOINT}`;
    // The bare server decides the same input as the engine did.
    const probe = (await (
      await fetch(`${opa.url}${opaPath}`, {
        method: 'POST',
        body: opaBody,
        headers: { 'content-type': 'application/json' },
      })
    ).json()) as { result?: { action?: string } };
    if (probe.result?.action !== ready.action) {
      throw new Error(`opa decided ${JSON.stringify(probe.result)}, the engine ${ready.action}`);
    }
    const allowanceUrl = `http://127.0.0.1:${ready.port}`;
    let seq = 0;
    const loadAllowance = (duration: number) =>
      run({
        url: allowanceUrl,
        connections: CONNECTIONS,
        duration,
        requests: [
          {
            method: 'POST',
            path: '/v1/authorize',
            headers: { authorization: `Bearer ${ready.token}`, 'content-type': 'application/json' },
            // A new authorization id per request: every request is a full decision, never a replay.
            setupRequest: (req) => ({ ...req, body: body(ready.reference, `pa_peer_${++seq}`) }),
          },
        ],
      });
    const measureAllowance = (duration: number) => withCpu(allowance.pid, () => loadAllowance(duration));
    const measureOpa = (duration: number) => withCpu(opa.child.pid, () => loadOpa(duration));
    const loadOpa = (duration: number) =>
      run({
        url: `${opa.url}${opaPath}`,
        connections: CONNECTIONS,
        duration,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: opaBody,
      });
    await loadOpa(2);
    await loadAllowance(2);
    const opaRows: Row[] = [];
    const allowanceRows: Row[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        opaRows.push(row(`bare OPA server (${round + 1})`, await measureOpa(SECONDS)));
        allowanceRows.push(row(`Allowance /v1/authorize (${round + 1})`, await measureAllowance(SECONDS)));
      } else {
        allowanceRows.push(row(`Allowance /v1/authorize (${round + 1})`, await measureAllowance(SECONDS)));
        opaRows.push(row(`bare OPA server (${round + 1})`, await measureOpa(SECONDS)));
      }
    }
    console.log(`servers on core ${SERVER_CORE}, load generator on core(s) ${LOAD_CORES}, ${CONNECTIONS} connections`);
    console.log('run                                  req/s   p50 ms   p99 ms  non2xx  errors  cpu us/req');
    for (const r of [...opaRows, ...allowanceRows]) {
      const cells = [r.rps.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2), String(r.non2xx), String(r.errors)];
      const cpu = String(r.cpuUs ?? '-').padStart(11);
      console.log(
        `${r.name.padEnd(34)} ${cells.map((c, i) => c.padStart(i === 0 ? 7 : i < 3 ? 8 : 7)).join(' ')} ${cpu}`,
      );
    }
    const pairRatios = allowanceRows.map((a, i) => a.rps / (opaRows[i] as Row).rps);
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    const cpuOf = (rows: Row[]) => {
      const known = rows.map((r) => r.cpuUs).filter((c): c is number => c !== null);
      return known.length === rows.length ? median(known) : null;
    };
    const opaCpu = cpuOf(opaRows);
    const allowanceCpu = cpuOf(allowanceRows);
    const all = [...opaRows, ...allowanceRows];
    const summary = {
      bench: 'peer',
      seconds: SECONDS,
      connections: CONNECTIONS,
      rounds: ROUNDS,
      server_core: Number(SERVER_CORE),
      load_cores: LOAD_CORES,
      opa_input_bytes: Buffer.byteLength(JSON.stringify(ready.policyInput)),
      opa_rps: Math.round(median(opaRows.map((r) => r.rps))),
      opa_p50_ms: median(opaRows.map((r) => r.p50)),
      opa_p99_ms: median(opaRows.map((r) => r.p99)),
      authorize_rps: Math.round(median(allowanceRows.map((r) => r.rps))),
      authorize_p50_ms: median(allowanceRows.map((r) => r.p50)),
      authorize_p99_ms: median(allowanceRows.map((r) => r.p99)),
      peer_ratio: round3(median(allowanceRows.map((r) => r.rps)) / median(opaRows.map((r) => r.rps))),
      peer_pair_ratios: pairRatios.map(round3),
      opa_cpu_us_per_request: opaCpu,
      authorize_cpu_us_per_request: allowanceCpu,
      // OPA's CPU per decision over Allowance's per authorize: the peer ratio were each server alone on its core.
      peer_cpu_ratio: opaCpu !== null && allowanceCpu ? round3(opaCpu / allowanceCpu) : null,
      target_peer_ratio: 1.5,
      non2xx: all.reduce((n, r) => n + r.non2xx, 0),
      errors: all.reduce((n, r) => n + r.errors, 0),
    };
    console.log(JSON.stringify(summary));
    if (summary.non2xx > 0 || summary.errors > 0) process.exitCode = 1;
  } finally {
    allowance.kill('SIGTERM');
    opa.child.kill('SIGTERM');
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
