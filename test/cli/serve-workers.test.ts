import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { callJson, setupCliWorld } from '../support/cli-server.js';
import { authorizeBody, clientToken, OPERATOR_CRED, type TestCredential } from '../support/http-app.js';
import { type RunningMongoServer, startMongoServer } from '../support/mongo-server.js';
import { vendorPolicy } from '../support/policy-uploads.js';

const CLI = fileURLToPath(new URL('../../src/cli/allowance.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', env }, (err, out, errOut) => {
      done({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), out, err: errOut });
    });
  });
}

const s = suite('allowance serve --workers');
let mongo: RunningMongoServer;
let dir: string;

s.before(async () => {
  mongo = await startMongoServer();
  dir = await mkdtemp(join(tmpdir(), 'allowance-workers-'));
});
s.after(async () => {
  await mongo.stop();
  await rm(dir, { recursive: true, force: true });
});

s('refused on the memory store; a bad count is a usage error', async () => {
  const { MONGODB_URI: _uri, ...rest } = process.env;
  const memoryEnv = { ...rest, ALLOWANCE_STORE: 'memory' };
  const memory = await run(['serve', '--workers', '2', '--port', '0'], memoryEnv);
  assert.is(memory.code, 2);
  assert.match(memory.err, /workers_need_shared_store/);
  for (const bad of ['0', 'two', '65', '1.5', '02']) {
    const res = await run(['serve', '--workers', bad, '--port', '0'], memoryEnv);
    assert.is(res.code, 2, bad);
    assert.match(res.err, /invalid_workers/, bad);
  }
});

/** Starts `allowance serve` with `args`; resolves with its `workers_listening` line, its logs so far and its exit. */
async function startWorkers(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, 'serve', ...args, '--port', '0', '--host', '127.0.0.1'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
  let logs = '';
  child.stderr.on('data', (chunk: Buffer) => {
    logs += chunk.toString();
  });
  const ready = await new Promise<{ port: number; pids: number[] }>((ok, fail) => {
    child.stdout.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
      for (const line of logs.split('\n')) {
        if (!line.includes('workers_listening')) continue;
        try {
          ok(JSON.parse(line));
        } catch {
          // a partial line
        }
      }
    });
    child.on('exit', () => fail(new Error(`serve exited early: ${logs}`)));
  });
  return { child, exited, ready, logs: () => logs };
}

s(
  'two workers on SQLite share one port and one file: concurrent authorizations through both never pass the limit',
  async () => {
    const { MONGODB_URI: _uri, ALLOWANCE_STORE: _store, ...rest } = process.env;
    const data = join(dir, 'sqlite-data');
    const env = {
      ...rest,
      ALLOWANCE_DATA_DIR: data,
      ALLOWANCE_SPOOL_DIR: join(dir, 'sqlite-spool'),
      ALLOWANCE_OPERATOR_KEY_ID: OPERATOR_CRED.key_id,
      ALLOWANCE_OPERATOR_SECRET: OPERATOR_CRED.secret,
      LOG_LEVEL: 'info',
    };
    const server = await startWorkers(['--workers', '2'], env);
    const { port, pids } = server.ready;
    assert.is(pids.length, 2);
    assert.is(new Set(pids).size, 2);
    // The primary made the keys and the file once, before any worker started.
    assert.equal((await readdir(data)).filter((f) => !f.startsWith('allowance.db')).sort(), [
      'master.key',
      'signing-key.pem',
    ]);
    assert.is(server.logs().match(/"event":"key_generated"/g)?.length, 2, server.logs());
    const url = `http://127.0.0.1:${port}`;
    const DAILY = 10_000;
    const world = await setupCliWorld(url, OPERATOR_CRED, { per_transaction: 50_000, daily: DAILY });
    // 40 at once: fetch opens a connection for each, and the cluster hands them to both workers in turn.
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        callJson(url, 'POST', '/v1/authorize', world.processor, authorizeBody(world.reference, { amount: 700 })),
      ),
    );
    assert.equal(
      answers.filter((a) => a.status !== 200).map((a) => a.text),
      [],
    );
    const approved = answers.filter((a) => a.body.allowed === true);
    const spent = approved.reduce((sum, a) => sum + a.body.approved_amount, 0);
    assert.is(approved.length, Math.floor(DAILY / 700));
    assert.ok(spent <= DAILY, `spent ${spent}`);
    const usage = await callJson(url, 'GET', `/v1/authorities/${world.authorityId}/usage`, world.enterprise);
    assert.is(usage.status, 200, usage.text);
    assert.is(usage.body.windows.daily.spent, spent);
    // Both workers answered authorizations (the access log names the process).
    const authorizing = new Set<number>();
    for (const line of server.logs().split('\n')) {
      if (!line.includes('"/v1/authorize"')) continue;
      try {
        authorizing.add((JSON.parse(line) as { pid: number }).pid);
      } catch {
        // not a JSON line
      }
    }
    assert.equal([...authorizing].sort(), [...pids].sort(), 'both workers authorized');
    server.child.kill('SIGTERM');
    assert.is(await server.exited, 0, server.logs());
  },
);

s('on SQLite, a database file this version cannot open stops the primary before any worker starts', async () => {
  const { MONGODB_URI: _uri, ALLOWANCE_STORE: _store, ...rest } = process.env;
  const data = join(dir, 'newer-data');
  await mkdir(data, { recursive: true });
  const db = new Database(join(data, 'allowance.db'));
  db.pragma('user_version = 999999');
  db.close();
  const res = await run(['serve', '--workers', '2', '--port', '0', '--host', '127.0.0.1'], {
    ...rest,
    ALLOWANCE_DATA_DIR: data,
    ALLOWANCE_SPOOL_DIR: join(dir, 'newer-spool'),
    LOG_LEVEL: 'info',
  });
  assert.is(res.code, 1, res.out + res.err);
  assert.match(res.out, /"event":"start_failed"/);
  assert.match(res.out, /newer than this version/);
  assert.not.match(res.out, /worker_exited/, 'no worker was started');
});

/** One POST on a new connection (so that the cluster hands it to the next worker), with our Request-Id. */
function postOnNewConnection(
  url: string,
  path: string,
  auth: TestCredential,
  requestId: string,
  body: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
): Promise<{ status: number; body: any }> {
  const payload = JSON.stringify(body);
  const target = new URL(url + path);
  return new Promise((ok, fail) => {
    const req = request(
      {
        agent: false,
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: target.pathname,
        headers: {
          authorization: `Bearer ${clientToken(auth)}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'request-id': requestId,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', fail);
    req.end(payload);
  });
}

/** The worker (pid) that logged each request id, from the access log lines of `logs`. */
function pidsByRequestId(logs: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of logs.split('\n')) {
    if (!line.includes('"event":"request"')) continue;
    try {
      const r = JSON.parse(line) as { pid: number; request_id: string };
      out.set(r.request_id, r.pid);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

s('two workers on SQLite: a policy promoted through one worker is served by the other after its poll', async () => {
  const { MONGODB_URI: _uri, ALLOWANCE_STORE: _store, ...rest } = process.env;
  const env = {
    ...rest,
    ALLOWANCE_DATA_DIR: join(dir, 'policy-data'),
    ALLOWANCE_SPOOL_DIR: join(dir, 'policy-spool'),
    ALLOWANCE_OPERATOR_KEY_ID: OPERATOR_CRED.key_id,
    ALLOWANCE_OPERATOR_SECRET: OPERATOR_CRED.secret,
    ALLOWANCE_POLICY_POLL_MS: '250',
    LOG_LEVEL: 'info',
  };
  const server = await startWorkers(['--workers', '2'], env);
  const url = `http://127.0.0.1:${server.ready.port}`;
  const world = await setupCliWorld(url, OPERATOR_CRED, { per_transaction: 50_000, daily: 100_000_000 });
  const upload = await fetch(`${url}/v1/policies`, {
    method: 'POST',
    headers: { authorization: `Bearer ${clientToken(world.enterprise)}`, 'content-type': 'application/gzip' },
    body: await vendorPolicy('rev-1', ['mer_3c7a1b9f']),
  });
  assert.is(upload.status, 201, await upload.text());
  const promote = await postOnNewConnection(url, '/v1/policies/rev-1/promote', world.enterprise, 'wk_promote', {});
  assert.is(promote.status, 200);
  const promotedAt = performance.now();
  // Authorizations on new connections (the workers in turn) until the last ten all ran rev-1: each worker
  // has then served it. The bound is far above the 250 ms poll; reaching it fails the test.
  const answers: { id: string; revision: string | null; ms: number }[] = [];
  for (let i = 0; answers.slice(-10).filter((a) => a.revision === 'rev-1').length < 10; i++) {
    assert.ok(performance.now() - promotedAt < 15_000, 'rev-1 did not reach both workers within 15 s');
    const id = `wk_authorize_${i}`;
    const res = await postOnNewConnection(url, '/v1/authorize', world.processor, id, authorizeBody(world.reference));
    assert.is(res.status, 200);
    answers.push({ id, revision: res.body.org_policy_revision, ms: performance.now() - promotedAt });
    if (res.body.org_policy_revision === 'rev-1') assert.equal(res.body.reason_codes, ['policy:no_vendor']);
  }
  server.child.kill('SIGTERM');
  assert.is(await server.exited, 0, server.logs());
  // The access log (complete once the workers have stopped) says which worker answered what.
  const pids = pidsByRequestId(server.logs());
  const promoter = pids.get('wk_promote');
  assert.ok(promoter !== undefined && server.ready.pids.includes(promoter), 'the promotion was logged');
  const first = new Map<number, number>();
  for (const a of answers) {
    const pid = pids.get(a.id) as number;
    assert.ok(server.ready.pids.includes(pid), `${a.id} was logged by a worker`);
    if (first.has(pid)) assert.is(a.revision, 'rev-1', `${a.id}: a worker that served rev-1 went back`);
    else if (a.revision === 'rev-1') first.set(pid, a.ms);
    else assert.is.not(pid, promoter, 'the worker that promoted serves the revision at once');
  }
  assert.equal([...first.keys()].sort(), [...server.ready.pids].sort(), 'both workers served rev-1');
  const other = server.ready.pids.find((p) => p !== promoter) as number;
  console.log(
    `\nrev-1 promoted through one worker, first served by the other after ${first.get(other)?.toFixed(0)} ms`,
  );
});

s('two workers on MongoDB share one port, each with its own spool, and stop on SIGTERM with exit 0', async () => {
  assert.is((await run(['keys', 'generate', '--out-dir', dir], process.env)).code, 0);
  const spool = join(dir, 'spool');
  const env = {
    ...process.env,
    MONGODB_URI: mongo.uri,
    ALLOWANCE_MASTER_KEY: (await readFile(join(dir, 'master.key'), 'utf8')).trim(),
    ALLOWANCE_SIGNING_KEY_FILE: join(dir, 'signing-key.pem'),
    ALLOWANCE_SPOOL_DIR: spool,
    LOG_LEVEL: 'info',
  };
  const server = await startWorkers(['--workers', '2'], env);
  const { ready } = server;
  assert.is(ready.pids.length, 2);
  assert.is(new Set(ready.pids).size, 2);
  assert.ok(ready.pids.every((pid) => pid !== server.child.pid));
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`http://127.0.0.1:${ready.port}/readyz`, { headers: { connection: 'close' } });
    assert.is(res.status, 200);
  }
  assert.equal((await readdir(spool)).sort(), ['worker-0', 'worker-1']);
  server.child.kill('SIGTERM');
  assert.is(await server.exited, 0, server.logs());
});

s.run();
