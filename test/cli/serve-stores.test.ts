import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { serverStores } from '../../src/cli/serve-command.js';
import { loadConfig } from '../../src/config/index.js';

const test = suite('serve: the stores of a configuration');

const MEMBERS = ['store', 'credentials', 'webhooks', 'policies', 'policyAnalysis', 'bridges'] as const;

test('without MONGODB_URI: every store of the SQLite backend in the data directory, webhooks included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-stores-'));
  try {
    const stores = await serverStores(loadConfig({ ALLOWANCE_DATA_DIR: dir }));
    for (const m of MEMBERS) assert.ok(stores[m], m);
    assert.ok(stores.store instanceof SqliteAdapter);
    assert.ok(existsSync(join(dir, 'allowance.db')));
    assert.is(stores.sharedLimits, undefined);
    await stores.store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('with ALLOWANCE_STORE=memory: every store of the memory backend, webhooks included', async () => {
  const stores = await serverStores(loadConfig({ ALLOWANCE_STORE: 'memory' }));
  for (const m of MEMBERS) assert.ok(stores[m], m);
  assert.ok(stores.store instanceof MemoryAdapter);
  assert.is(stores.sharedLimits, undefined);
  await stores.store.close();
});

test('with MONGODB_URI: every store of the MongoDB backend on one connection, webhooks included', async () => {
  // Building the set does not connect: the address is never dialled.
  const config = { ...loadConfig({}), mongodbUri: 'mongodb://127.0.0.1:9/allowance_test' };
  const stores = await serverStores(config);
  for (const m of MEMBERS) assert.ok(stores[m], m);
  assert.ok(stores.sharedLimits?.mongo.client);
  assert.is(stores.sharedLimits?.mongo.dbName, 'allowance_test');
  await stores.store.close();
});

test.run();
