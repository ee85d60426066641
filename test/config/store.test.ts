import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { logStore } from '../../src/cli/serve-command.js';
import { ConfigError, ensureDataDirKeys, loadConfig } from '../../src/config/index.js';
import { signingKeyFromPem } from '../../src/crypto/signing-keys.js';

const store = suite('store selection');

store('SQLite in ./data by default, ALLOWANCE_DATA_DIR moves it, memory on request, MongoDB with MONGODB_URI', () => {
  const d = loadConfig({});
  assert.is(d.store, 'sqlite');
  assert.is(d.dataDir, './data');
  assert.is(loadConfig({ ALLOWANCE_DATA_DIR: '/var/lib/allowance' }).dataDir, '/var/lib/allowance');
  assert.is(loadConfig({ ALLOWANCE_STORE: 'memory' }).store, 'memory');
  assert.is(loadConfig({ ALLOWANCE_STORE: 'sqlite' }).store, 'sqlite');
  const mongo = {
    MONGODB_URI: 'mongodb://127.0.0.1:27017/allowance',
    ALLOWANCE_MASTER_KEY: 'a'.repeat(64),
    ALLOWANCE_SIGNING_KEY_FILE: '/keys/signing.pem',
  };
  assert.is(loadConfig(mongo).store, 'mongodb');
  for (const bad of [
    { ALLOWANCE_STORE: 'redis' },
    { ALLOWANCE_STORE: 'mongodb' },
    { ...mongo, ALLOWANCE_STORE: 'memory' },
  ]) {
    assert.throws(
      () => loadConfig(bad),
      (err: unknown) => err instanceof ConfigError,
      JSON.stringify(bad),
    );
  }
});

store('the memory store logs a loud warning; SQLite says where', () => {
  const lines: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  const logger = {
    debug() {},
    info: (event: string, fields: Record<string, unknown> = {}) => lines.push({ level: 'info', event, fields }),
    warn: (event: string, fields: Record<string, unknown> = {}) => lines.push({ level: 'warn', event, fields }),
    error() {},
  };
  logStore(loadConfig({ ALLOWANCE_STORE: 'memory' }), logger as never);
  logStore(loadConfig({ ALLOWANCE_DATA_DIR: '/srv/a' }), logger as never);
  assert.is(lines[0]?.level, 'warn');
  assert.match(String(lines[0]?.fields.message), /LOST ON EXIT/);
  assert.equal(lines[1], {
    level: 'info',
    event: 'store',
    fields: { store: 'sqlite', path: join('/srv/a', 'allowance.db'), durable: true },
  });
});

store('keys are generated once into the data directory (0600) and read back; configured keys win', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-keys-'));
  try {
    const config = loadConfig({ ALLOWANCE_DATA_DIR: dir });
    assert.is(config.masterKeyEphemeral, true);
    const first = await ensureDataDirKeys(config);
    assert.equal(first.created.sort(), [join(dir, 'master.key'), join(dir, 'signing-key.pem')]);
    assert.is(first.config.masterKeyEphemeral, false);
    assert.is(first.config.signingKeyFile, join(dir, 'signing-key.pem'));
    for (const f of first.created) assert.is((await stat(f)).mode & 0o777, 0o600);
    signingKeyFromPem(await readFile(join(dir, 'signing-key.pem'), 'utf8'));
    // Two starts at once, then a restart: one key, never replaced.
    const again = await Promise.all([ensureDataDirKeys(config), ensureDataDirKeys(config)]);
    for (const a of again) {
      assert.equal(a.created, []);
      assert.ok(a.config.masterKey.equals(first.config.masterKey));
    }
    const configured = loadConfig({ ALLOWANCE_DATA_DIR: dir, ALLOWANCE_MASTER_KEY: 'b'.repeat(64) });
    assert.ok((await ensureDataDirKeys(configured)).config.masterKey.equals(Buffer.from('b'.repeat(64), 'hex')));
    const memory = loadConfig({ ALLOWANCE_DATA_DIR: join(dir, 'm'), ALLOWANCE_STORE: 'memory' });
    const untouched = await ensureDataDirKeys(memory);
    assert.equal(untouched.created, []);
    assert.is(untouched.config.masterKeyEphemeral, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

store.run();
