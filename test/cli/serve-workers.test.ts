import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
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
