/**
 * Fault run: the store freezes mid-load. Starts the test MongoDB server and a real server process on it,
 * loads it with authorizations, pauses the database process (SIGSTOP) mid-load, keeps loading, resumes it
 * (SIGCONT) and keeps loading. Prints one JSON line and exits non-zero when any of these fails:
 * - every authorize is answered (200) within the deadline + 100 ms, during the freeze too;
 * - /readyz turns 503 within 1 s of the freeze, and every /readyz answers within 1 s;
 * - the server recovers without a restart: /readyz 200 and decisions from the store again;
 * - every stand-in decision is drained from the spool into the store;
 * - the ledger (the authority's lifetime usage) equals the sum of the approvals answered, stand-ins included;
 * - the org's audit chain verifies, and every decision answered (stand-ins included) is an event in it.
 *
 * Usage: node build/test/faults/store-freeze.js  (FAULT_FREEZE_MS, FAULT_LOAD_WORKERS, FAULT_DEADLINE_MS)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { verifyJws } from '../../src/crypto/index.js';
import type { Decision } from '../../src/types.js';
import { clientToken, type TestCredential } from '../support/http-app.js';
import { startMongoServer } from '../support/mongo-server.js';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'server.js');
const DEADLINE_MS = Number(process.env.FAULT_DEADLINE_MS ?? 1500);
const FREEZE_MS = Number(process.env.FAULT_FREEZE_MS ?? 6000);
const WORKERS = Number(process.env.FAULT_LOAD_WORKERS ?? 8);
const BEFORE_MS = 3000;
const AFTER_MS = 5000;
const SLACK_MS = 100;
const OPERATOR: TestCredential = { key_id: 'op_faultfreeze', secret: `sk_${'f'.repeat(40)}` };
const MAX_STAND_IN = 1500;

// Waits here are the scenario's own timeline (load before, during and after the freeze, a load balancer's
// probe interval) or the pause between polls of a condition read over HTTP from another process; no wait
// stands in for awaiting work this process could await.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

function startCli(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    if (output.length < 20_000) output += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<Server>((resolve, reject) => {
    // A bound on start-up, not a wait: it fails the run if the server never says it is listening.
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), 60_000);
    exited.then(() => reject(new Error(`the server exited:\n${output}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let record: { event?: string; port?: number };
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (record.event !== 'listening') return;
      clearTimeout(timer);
      resolve({
        url: `http://127.0.0.1:${record.port}`,
        child,
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

async function call(
  url: string,
  method: string,
  path: string,
  auth?: TestCredential,
  body?: unknown,
  timeoutMs = 30_000,
  // biome-ignore lint/suspicious/noExplicitAny: reads arbitrary JSON
): Promise<{ status: number; body: any; ms: number }> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Bearer ${clientToken(auth)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  try {
    const res = await fetch(url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, ms: performance.now() - started };
  } catch (err) {
    return { status: 0, body: { error: String(err) }, ms: performance.now() - started };
  }
}

async function must(res: Promise<{ status: number; body: unknown }>, status: number, what: string) {
  const r = await res;
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  // biome-ignore lint/suspicious/noExplicitAny: reads arbitrary JSON
  return r.body as any;
}

interface Answer {
  sentAt: number;
  ms: number;
  status: number;
  decision: Decision | null;
}

async function main(): Promise<boolean> {
  const mongo = await startMongoServer();
  if (mongo.pid === undefined) throw new Error('this fault run starts its own database: unset MONGODB_URI');
  const spoolDir = await mkdtemp(join(tmpdir(), 'allowance-fault-spool-'));
  // On MongoDB the server requires a signing key file (and a master key).
  const signingKeyFile = join(spoolDir, 'signing.pem');
  await writeFile(
    signingKeyFile,
    generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    { mode: 0o600 },
  );
  const dbName = `allowance_fault_${randomBytes(4).toString('hex')}`;
  const server = await startCli({
    MONGODB_URI: `${mongo.uri.replace(/\/$/, '')}/${dbName}`,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ALLOWANCE_MASTER_KEY: randomBytes(32).toString('hex'),
    ALLOWANCE_OPERATOR_KEY_ID: OPERATOR.key_id,
    ALLOWANCE_OPERATOR_SECRET: OPERATOR.secret,
    ALLOWANCE_AUTHORIZE_DEADLINE_MS: String(DEADLINE_MS),
    ALLOWANCE_SPOOL_DIR: join(spoolDir, 'spool'),
    ALLOWANCE_SIGNING_KEY_FILE: signingKeyFile,
    ALLOWANCE_RATE_LIMIT_RPS: '100000',
    ALLOWANCE_RATE_LIMIT_BURST: '100000',
  });
  let paused = false;
  try {
    const { url } = server;
    const org = await must(call(url, 'POST', '/v1/orgs', OPERATOR, { name: 'Freeze' }), 201, 'org');
    const ent = await must(call(url, 'POST', `/v1/orgs/${org.id}/credentials`, OPERATOR, { name: 'e' }), 201, 'cred');
    const enterprise: TestCredential = { key_id: ent.key_id, secret: ent.secret };
    const prc = await must(call(url, 'POST', '/v1/processors', OPERATOR, { name: 'Card' }), 201, 'processor');
    const pcred = await must(
      call(url, 'POST', `/v1/processors/${prc.id}/credentials`, OPERATOR, { name: 'p' }),
      201,
      'processor credential',
    );
    const processor: TestCredential = { key_id: pcred.key_id, secret: pcred.secret };
    const agent = await must(call(url, 'POST', '/v1/agents', enterprise, { name: 'buyer' }), 201, 'agent');
    const authority = await must(
      call(url, 'POST', '/v1/authorities', enterprise, {
        agent_id: agent.id,
        currency: 'USD',
        limits: { per_transaction: 5_000, daily: null, weekly: null, monthly: null, total: null },
        stand_in: { action: 'ALLOW_UP_TO', max_amount: MAX_STAND_IN },
      }),
      201,
      'authority',
    );
    const reference = `tok_freeze_${randomBytes(4).toString('hex')}`;
    await must(
      call(url, 'POST', '/v1/bindings', enterprise, {
        agent_id: agent.id,
        authority_id: authority.id,
        processor_id: prc.id,
        credential: { type: 'network_token', reference, last4: '4242' },
      }),
      201,
      'binding',
    );

    const answers: Answer[] = [];
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const amount = 100 + ((n * 37 + w * 11) % 1800); // some above the stand-in maximum
        const body = {
          authorization_id: `pa_freeze_${w}_${++n}`,
          credential_reference: reference,
          amount,
          currency: 'USD',
          merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
          channel: 'online',
        };
        const sentAt = performance.now();
        const r = await call(url, 'POST', '/v1/authorize', processor, body, 60_000);
        answers.push({ sentAt, ms: r.ms, status: r.status, decision: r.status === 200 ? r.body : null });
      }
    };
    // A probe every 100 ms, each on its own (not waiting for the one before), as a load balancer does.
    const readyz: { sentAt: number; ms: number; status: number }[] = [];
    const poller = async () => {
      const probes: Promise<void>[] = [];
      while (!stop) {
        const sentAt = performance.now();
        probes.push(
          call(url, 'GET', '/readyz', undefined, undefined, 5_000).then((r) => {
            readyz.push({ sentAt, ms: r.ms, status: r.status });
          }),
        );
        await sleep(100);
      }
      await Promise.all(probes);
    };

    const load = [...Array.from({ length: WORKERS }, (_, w) => worker(w)), poller()];
    // The scenario: load for BEFORE_MS, the database frozen for FREEZE_MS, then AFTER_MS of recovery.
    await sleep(BEFORE_MS);
    const frozenAt = performance.now();
    process.kill(mongo.pid, 'SIGSTOP');
    paused = true;
    await sleep(FREEZE_MS);
    process.kill(mongo.pid, 'SIGCONT');
    paused = false;
    const thawedAt = performance.now();
    await sleep(AFTER_MS);
    stop = true;
    await Promise.all(load);

    // Drain: the spool holds nothing undrained (the server drains in the background).
    const spoolFile = join(spoolDir, 'spool', 'stand-in.jsonl');
    const undrained = async () => {
      const text = await readFile(spoolFile, 'utf8').catch(() => '');
      const decided = new Set<string>();
      const drained = new Set<string>();
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line);
          if (e.kind === 'decision') decided.add(e.decision.decision_id);
          else if (e.kind === 'drained') drained.add(e.decision_id);
        } catch {}
      }
      return [...decided].filter((d) => !drained.has(d)).length;
    };
    const drainBy = performance.now() + 60_000;
    let left = await undrained();
    while (left > 0 && performance.now() < drainBy) {
      await sleep(250);
      left = await undrained();
    }

    const ok = answers.filter((a) => a.status === 200);
    const failed = answers.filter((a) => a.status !== 200);
    const standIns = ok.filter((a) => a.decision?.stand_in === true);
    const duringFreeze = answers.filter((a) => a.sentAt >= frozenAt && a.sentAt < thawedAt);
    const maxLatency = Math.max(...answers.map((a) => a.ms));
    const jwks = await must(call(url, 'GET', '/.well-known/jwks.json'), 200, 'jwks');
    const badProofs = ok.filter((a) => !verifyJws((a.decision as Decision).proof, jwks).ok).length;
    const approvedSum = ok.reduce(
      (s, a) => s + ((a.decision as Decision).allowed ? (a.decision as Decision).approved_amount : 0),
      0,
    );
    const approvedCount = ok.filter((a) => (a.decision as Decision).allowed).length;
    const standInApproved = standIns.reduce((s, a) => s + (a.decision as Decision).approved_amount, 0);

    // When readyz turned 503: the first 503 answered after the freeze began; and no probe sent later in
    // the freeze may be answered 200.
    const answeredAt = (r: { sentAt: number; ms: number }) => r.sentAt + r.ms;
    const turned = readyz
      .filter((r) => r.status === 503 && answeredAt(r) >= frozenAt)
      .map((r) => answeredAt(r) - frozenAt);
    const readyz503AfterMs = turned.length > 0 ? Math.min(...turned) : null;
    const readyDuringFreeze = readyz.filter(
      (r) => r.status === 200 && r.sentAt >= frozenAt + 1000 && answeredAt(r) <= thawedAt,
    ).length;
    const readyzMaxMs = Math.max(...readyz.map((r) => r.ms));
    const readyAgain = readyz.some((r) => r.sentAt >= thawedAt && r.status === 200);
    const storeAgain = ok.some((a) => a.sentAt >= thawedAt && a.decision?.stand_in === false);

    const usage = await must(call(url, 'GET', `/v1/authorities/${authority.id}/usage`, enterprise), 200, 'usage');
    const ledger = usage.windows.total.spent as number;
    const ledgerCount = usage.windows.total.count as number;
    // Every decision answered, stand-ins included, becomes an event of the chain once the background
    // chainer links it: read the chain until all of them are there (bounded), then verify it.
    const linked = new Set<string>();
    const readChain = async () => {
      linked.clear();
      for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
        const page = await must(
          call(url, 'GET', `/v1/audit?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, enterprise),
          200,
          'audit',
        );
        for (const e of page.items) linked.add(e.id);
        cursor = page.items.length > 0 ? page.next_cursor : null;
      }
      return ok.filter((a) => !linked.has((a.decision as Decision).audit_event_id as string)).length;
    };
    const linkBy = performance.now() + 30_000;
    let unlinked = await readChain();
    while (unlinked > 0 && performance.now() < linkBy) {
      await sleep(250);
      unlinked = await readChain();
    }
    const verify = await must(call(url, 'GET', '/v1/audit/verify', enterprise), 200, 'verify');
    const missingEvents = unlinked;

    const checks = {
      every_answer_200: failed.length === 0,
      within_deadline: maxLatency <= DEADLINE_MS + SLACK_MS,
      proofs_verify: badProofs === 0,
      freeze_had_stand_ins: standIns.length > 0 && duringFreeze.length > 0,
      readyz_503_within_1s: readyz503AfterMs !== null && readyz503AfterMs <= 1000 && readyDuringFreeze === 0,
      readyz_answers_within_1s: readyzMaxMs <= 1000,
      recovered_without_restart: readyAgain && storeAgain,
      spool_drained: left === 0,
      ledger_equals_approvals: ledger === approvedSum && ledgerCount === approvedCount,
      audit_chain_verifies: verify.ok === true,
      audit_has_every_decision: missingEvents === 0,
    };
    const pass = Object.values(checks).every(Boolean);
    console.log(
      JSON.stringify({
        fault: 'store-freeze',
        pass,
        deadline_ms: DEADLINE_MS,
        freeze_ms: FREEZE_MS,
        authorizations: answers.length,
        failed: failed.length,
        failed_statuses: [...new Set(failed.map((a) => a.status))],
        during_freeze: duringFreeze.length,
        max_authorize_ms: Math.round(maxLatency),
        max_authorize_200_ms: ok.length > 0 ? Math.round(Math.max(...ok.map((a) => a.ms))) : null,
        stand_ins: standIns.length,
        stand_in_approved_amount: standInApproved,
        readyz_503_after_ms: readyz503AfterMs === null ? null : Math.round(readyz503AfterMs),
        readyz_max_ms: Math.round(readyzMaxMs),
        readyz_200_during_freeze: readyDuringFreeze,
        readyz_slowest: [...readyz]
          .sort((a, b) => b.ms - a.ms)
          .slice(0, 3)
          .map((r) => ({ at_ms: Math.round(r.sentAt - frozenAt), ms: Math.round(r.ms), status: r.status })),
        spool_undrained: left,
        ledger,
        approved_sum: approvedSum,
        ledger_count: ledgerCount,
        approved_count: approvedCount,
        audit_verify: { ok: verify.ok, checked: verify.checked },
        decisions_missing_from_audit: missingEvents,
        checks,
      }),
    );
    return pass;
  } finally {
    if (paused) process.kill(mongo.pid, 'SIGCONT');
    await server.stop();
    await mongo.stop();
    await rm(spoolDir, { recursive: true, force: true });
  }
}

main().then(
  (pass) => process.exit(pass ? 0 : 1),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
