import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { callJson, setupCliWorld } from '../support/cli-server.js';
import { authorizeBody, OPERATOR_CRED } from '../support/http-app.js';
import { type RunningMongoServer, startMongoServer } from '../support/mongo-server.js';

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
  const child = spawn(process.execPath, [CLI, 'serve', '--workers', '2', '--port', '0', '--host', '127.0.0.1'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
  let logs = '';
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
  assert.is(ready.pids.length, 2);
  assert.is(new Set(ready.pids).size, 2);
  assert.ok(ready.pids.every((pid) => pid !== child.pid));
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`http://127.0.0.1:${ready.port}/readyz`, { headers: { connection: 'close' } });
    assert.is(res.status, 200);
  }
  assert.equal((await readdir(spool)).sort(), ['worker-0', 'worker-1']);
  child.kill('SIGTERM');
  assert.is(await exited, 0, logs);
});

s.run();
