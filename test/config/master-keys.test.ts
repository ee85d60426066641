import { spawn } from 'node:child_process';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createSecretBox, masterKeyId } from '../../src/crypto/secret-box.js';
import { makeWorld, startTestApp } from '../support/http-app.js';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'server.js');
const MONGO = 'mongodb://127.0.0.1:1/allowance';

function configError(env: Record<string, string>, mentions: RegExp): void {
  try {
    loadConfig(env);
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, mentions);
  }
}

const required = suite('keys required on MongoDB');

required('MONGODB_URI without ALLOWANCE_MASTER_KEY or ALLOWANCE_SIGNING_KEY_FILE is a configuration error', () => {
  configError({ MONGODB_URI: MONGO, ALLOWANCE_SIGNING_KEY_FILE: '/k.pem' }, /ALLOWANCE_MASTER_KEY is required/);
  configError(
    { MONGODB_URI: MONGO, ALLOWANCE_MASTER_KEY: randomBytes(32).toString('hex') },
    /ALLOWANCE_SIGNING_KEY_FILE is required/,
  );
  const ok = loadConfig({
    MONGODB_URI: MONGO,
    ALLOWANCE_MASTER_KEY: randomBytes(32).toString('hex'),
    ALLOWANCE_SIGNING_KEY_FILE: '/k.pem',
  });
  assert.is(ok.masterKeyEphemeral, false);
  // The in-memory store still starts without them (a random key per process, warned).
  assert.is(loadConfig({}).masterKeyEphemeral, true);
});

required('the server refuses to start on MongoDB without the keys: non-zero exit and a clear message', async () => {
  for (const [env, mentions] of [
    [{ MONGODB_URI: MONGO }, /ALLOWANCE_MASTER_KEY is required/],
    [{ MONGODB_URI: MONGO, ALLOWANCE_MASTER_KEY: randomBytes(32).toString('hex') }, /ALLOWANCE_SIGNING_KEY_FILE/],
  ] as const) {
    const child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.is.not(code, 0);
    assert.is.not(code, null);
    assert.match(stderr, mentions);
  }
});

required('ALLOWANCE_PREVIOUS_MASTER_KEYS: each key 32 bytes, and only with ALLOWANCE_MASTER_KEY', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const c = loadConfig({
    ALLOWANCE_MASTER_KEY: a.toString('hex'),
    ALLOWANCE_PREVIOUS_MASTER_KEYS: ` ${b.toString('base64')} , ${randomBytes(32).toString('hex')}`,
  });
  assert.is(c.previousMasterKeys.length, 2);
  assert.ok(c.previousMasterKeys[0]?.equals(b));
  configError({ ALLOWANCE_PREVIOUS_MASTER_KEYS: b.toString('hex') }, /needs ALLOWANCE_MASTER_KEY/);
  configError(
    { ALLOWANCE_MASTER_KEY: a.toString('hex'), ALLOWANCE_PREVIOUS_MASTER_KEYS: 'abcd' },
    /ALLOWANCE_PREVIOUS_MASTER_KEYS must be 32 bytes/,
  );
});

required.run();

// ---

const rotation = suite('master key rotation');

/** A value sealed the way secrets were sealed before they carried a key id. */
function legacySeal(masterKey: Buffer, plaintext: string, aad: string): string {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'allowance credential secrets v1', 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1.${iv.toString('base64url')}.${ct.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

rotation('a sealed value names its key; previous keys open, the current one seals', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = createSecretBox(oldKey).seal('sk_secret', 'key_1');
  assert.is(before.split('.')[0], 'v2');
  assert.is(before.split('.')[1], masterKeyId(oldKey));
  assert.not.match(before, oldKey.toString('base64url'));

  const rotated = createSecretBox(newKey, [oldKey]);
  assert.is(rotated.open(before, 'key_1'), 'sk_secret');
  const after = rotated.seal('sk_other', 'key_2');
  assert.is(after.split('.')[1], masterKeyId(newKey));
  assert.is(createSecretBox(newKey).open(after, 'key_2'), 'sk_other');

  // Without the previous key the old value does not open, and says which key it needs.
  assert.throws(() => createSecretBox(newKey).open(before, 'key_1'), new RegExp(masterKeyId(oldKey)));
  // The associated data still binds a value to its row.
  assert.throws(() => rotated.open(before, 'key_2'));
});

rotation('values sealed before key ids still open, with the current or a previous key', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const legacy = legacySeal(oldKey, 'sk_legacy', 'key_9');
  assert.is(createSecretBox(oldKey).open(legacy, 'key_9'), 'sk_legacy');
  assert.is(createSecretBox(newKey, [oldKey]).open(legacy, 'key_9'), 'sk_legacy');
  assert.throws(() => createSecretBox(newKey).open(legacy, 'key_9'));
  assert.throws(() => createSecretBox(oldKey).open('v3.x.y.z', 'key_9'), /unknown sealed secret format/);
});

rotation.run();

// ---

const restart = suite('API credentials across a master key rotation');

restart('a credential sealed under the old key authenticates after a restart with the new key', async () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const first = await startTestApp({ masterKey: oldKey });
  const world = await makeWorld(first);
  await first.close();
  const auth = { auth: world.enterprise };
  // Same storage, restarted with the new key and the old one listed as previous.
  const rotated = await startTestApp({
    masterKey: newKey,
    previousMasterKeys: [oldKey],
    credentials: first.credentials,
  });
  try {
    assert.is((await rotated.call('GET', '/v1/agents', auth)).status, 200);
    const created = await rotated.call('POST', '/v1/credentials', { ...auth, body: { name: 'after rotation' } });
    assert.is(created.status, 201, created.text);
    assert.is((await rotated.call('GET', '/v1/agents', { auth: created.body })).status, 200);
  } finally {
    await rotated.close();
  }
  // Without the previous key the old credential no longer opens (this is why rotation keeps it listed).
  const forgotten = await startTestApp({ masterKey: newKey, credentials: first.credentials });
  try {
    assert.is((await forgotten.call('GET', '/v1/agents', auth)).status, 401);
  } finally {
    await forgotten.close();
  }
});

restart.run();
