import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runDemoCommand } from '../../src/cli/demo-command.js';
import { runKeysCommand } from '../../src/cli/keys-command.js';
import { signingKeyFromPem } from '../../src/crypto/signing-keys.js';

const CLI = fileURLToPath(new URL('../../src/cli/allowance.js', import.meta.url));

function run(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', env }, (err, out, errOut) => {
      done({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), out, err: errOut });
    });
  });
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}

const demo = suite('allowance demo');

demo('--json: the whole story through the public API, a decision whose proof verifies', async () => {
  const { code, out, err } = await run(['demo', '--json']);
  assert.is(code, 0, err);
  const result = JSON.parse(out);
  for (const field of ['org_id', 'processor_id', 'agent_id', 'authority_id', 'binding_id']) {
    assert.type(result[field], 'string', field);
  }
  assert.is(result.decision.action, 'ALLOW');
  assert.is(result.decision.approved_amount, 1850);
  assert.is(result.decision.binding_id, result.binding_id);
  assert.is(result.proof.verified, true);
  const { proof: _proof, ...fields } = result.decision;
  assert.equal(result.proof.payload, fields);
  const calls = result.curl.map((c: string) => c.split(' ').slice(3, 5).join(' '));
  assert.equal(
    calls,
    [
      "POST 'http://127.0.0.1:PORT/v1/orgs'",
      "POST 'http://127.0.0.1:PORT/v1/processors'",
      `POST 'http://127.0.0.1:PORT/v1/orgs/${result.org_id}/credentials'`,
      `POST 'http://127.0.0.1:PORT/v1/processors/${result.processor_id}/credentials'`,
      "POST 'http://127.0.0.1:PORT/v1/agents'",
      "POST 'http://127.0.0.1:PORT/v1/authorities'",
      "POST 'http://127.0.0.1:PORT/v1/bindings'",
      "POST 'http://127.0.0.1:PORT/v1/authorize'",
      "GET 'http://127.0.0.1:PORT/.well-known/jwks.json'",
    ].map((c) => c.replace('http://127.0.0.1:PORT', result.server)),
  );
  // The JWKS is public: the demo sends no token for it.
  assert.not.match(result.curl.at(-1), /Authorization/);
});

demo('--keep: the printed shell lines and curl commands work against the kept server', async () => {
  const { out, err, io } = capture();
  let replay: { status: number; body: string } | null = null;
  const code = await runDemoCommand(['--keep'], {
    ...io,
    waitForStop: async () => {
      const text = out.join('');
      const lines = text.split('\n');
      const setup = lines.filter((l) => l.startsWith('token() {') || l.startsWith('PROCESSOR_TOKEN='));
      const authorize = lines.find((l) => l.startsWith('curl ') && l.includes('/v1/authorize'));
      assert.ok(authorize, text);
      const script = `${setup.join('\n')}\n${authorize} -w '\\n%{http_code}'`;
      const result = await new Promise<string>((ok, fail) =>
        execFile('bash', ['-c', script], { encoding: 'utf8' }, (e, stdout) => (e ? fail(e) : ok(stdout))),
      );
      const [body = '', status = ''] = result.trimEnd().split(/\n(?=\d+$)/);
      replay = { status: Number(status), body };
    },
  });
  assert.is(code, 0, err.join(''));
  const text = out.join('');
  assert.match(text, /decision: ALLOW/);
  assert.match(text, /signature valid with key /);
  // Replaying the printed authorize returns the stored decision (same authorization_id: idempotent).
  assert.ok(replay);
  const r = replay as unknown as { status: number; body: string };
  assert.is(r.status, 200, r.body);
  const decision = JSON.parse(r.body);
  assert.ok(text.includes(`"decision_id": "${decision.decision_id}"`), 'the replay is the decision shown');
});

demo('--help and a wrong option', async () => {
  const help = await run(['demo', '--help']);
  assert.is(help.code, 0);
  assert.match(help.out, /usage: allowance demo/);
  const bad = await run(['demo', '--nope']);
  assert.is(bad.code, 2);
  assert.match(bad.err, /usage: allowance demo/);
});

demo.run();

const keys = suite('allowance keys generate');
let dir: string;
keys.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'allowance-keys-'));
});
keys.after.each(() => rm(dir, { recursive: true, force: true }));

keys('to stdout: a 32-byte hex master key and a PKCS#8 Ed25519 PEM', async () => {
  const { out, io } = capture();
  assert.is(await runKeysCommand(['generate'], io), 0);
  const text = out.join('');
  assert.match(text, /^ALLOWANCE_MASTER_KEY=[0-9a-f]{64}\n/);
  const pem = text.slice(text.indexOf('-----BEGIN PRIVATE KEY-----'));
  const key = signingKeyFromPem(pem);
  assert.ok(text.includes(`kid ${key.kid}`));
});

keys('--out-dir: files of mode 0600 that the server reads, never overwritten, nothing half-written', async () => {
  const { out, io } = capture();
  assert.is(await runKeysCommand(['generate', '--out-dir', dir], io), 0);
  for (const name of ['master.key', 'signing-key.pem']) {
    assert.is((await stat(join(dir, name))).mode & 0o777, 0o600, name);
  }
  assert.match(await readFile(join(dir, 'master.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
  const key = signingKeyFromPem(await readFile(join(dir, 'signing-key.pem'), 'utf8'));
  assert.ok(out.join('').includes(`ALLOWANCE_SIGNING_KEY_FILE=${join(dir, 'signing-key.pem')}`));
  assert.ok(out.join('').includes(key.kid));

  // A second run refuses to overwrite, and leaves no master key behind when the signing key exists.
  await rm(join(dir, 'master.key'));
  const before = await readFile(join(dir, 'signing-key.pem'), 'utf8');
  const second = capture();
  assert.is(await runKeysCommand(['generate', '--out-dir', dir], second.io), 1);
  assert.match(second.err.join(''), /exists/);
  assert.is(await readFile(join(dir, 'signing-key.pem'), 'utf8'), before);
  assert.is(await stat(join(dir, 'master.key')).catch(() => null), null);
});

keys('a signing key alone; usage errors exit 2', async () => {
  const { out, io } = capture();
  assert.is(await runKeysCommand(['generate', 'signing'], io), 0);
  assert.not.match(out.join(''), /MASTER/);
  assert.match(out.join(''), /BEGIN PRIVATE KEY/);
  assert.is(await runKeysCommand(['generate', 'nonsense'], capture().io), 2);
  assert.is(await runKeysCommand([], capture().io), 2);
  assert.is(await runKeysCommand(['generate', '--force'], capture().io), 2);
  const help = capture();
  assert.is(await runKeysCommand(['--help'], help.io), 0);
  assert.match(help.out.join(''), /usage: allowance keys generate/);
});

keys.run();

const serve = suite('allowance serve');

serve('serves with the generated keys, signs with that key, stops on SIGTERM with exit 0', async () => {
  dir = await mkdtemp(join(tmpdir(), 'allowance-serve-'));
  try {
    assert.is((await run(['keys', 'generate', '--out-dir', dir])).code, 0);
    const key = signingKeyFromPem(await readFile(join(dir, 'signing-key.pem'), 'utf8'));
    const env = {
      ...process.env,
      ALLOWANCE_MASTER_KEY: (await readFile(join(dir, 'master.key'), 'utf8')).trim(),
      ALLOWANCE_SIGNING_KEY_FILE: join(dir, 'signing-key.pem'),
      ALLOWANCE_DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'info',
    };
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
    let logs = '';
    const port = await new Promise<number>((ok, fail) => {
      child.stdout.on('data', (chunk: Buffer) => {
        logs += chunk.toString();
        for (const line of logs.split('\n')) {
          const record = (() => {
            try {
              return JSON.parse(line);
            } catch {
              return null;
            }
          })();
          if (record && Object.values(record).includes('listening') && typeof record.port === 'number') {
            ok(record.port);
          }
        }
      });
      child.on('exit', () => fail(new Error(`serve exited early: ${logs}`)));
    });
    const jwks = (await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    assert.equal(
      jwks.keys.map((k: { kid: string }) => k.kid),
      [key.kid],
    );
    const docs = await fetch(`http://127.0.0.1:${port}/docs`);
    assert.is(docs.status, 200);
    // A second server on the same data directory would share the stand-in spool: it does not start (after
    // waiting the lock's stale time, in case the holder had died).
    const second = await run(['serve', '--port', '0', '--host', '127.0.0.1'], env);
    assert.is(second.code, 1, second.err);
    const locked = second.out
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .find((r) => Object.values(r).includes('stand_in_spool_locked'));
    assert.ok(locked, `stand_in_spool_locked logged: ${second.out}`);
    assert.is(locked.dir, join(dir, 'data', 'spool'));
    assert.is((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the first one serves on');
    child.kill('SIGTERM');
    assert.is(await exited, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

serve('--help exits 0; a bad option or a bad environment exits 2', async () => {
  const help = await run(['serve', '--help']);
  assert.is(help.code, 0);
  assert.match(help.out, /usage: allowance serve/);
  assert.is((await run(['serve', '--nope'])).code, 2);
  const badEnv = await run(['serve'], { ...process.env, ALLOWANCE_MASTER_KEY: 'short' });
  assert.is(badEnv.code, 2);
  assert.match(badEnv.err, /ALLOWANCE_MASTER_KEY/);
  const top = await run(['--help']);
  assert.is(top.code, 0);
  for (const command of ['serve', 'demo', 'keys', 'policy', 'audit', 'backup'])
    assert.match(top.out, new RegExp(`\\n  ${command} `));
});

serve.run();
