import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { serverStores } from '../../src/cli/serve-command.js';
import { loadConfig } from '../../src/config/index.js';

const test = suite('serve: the stores of a configuration');

const MEMBERS = ['store', 'credentials', 'webhooks', 'policies', 'policyAnalysis', 'bridges'] as const;

test('without MONGODB_URI: every store of the memory backend, webhooks included', async () => {
  const stores = await serverStores(loadConfig({}));
  for (const m of MEMBERS) assert.ok(stores[m], m);
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
