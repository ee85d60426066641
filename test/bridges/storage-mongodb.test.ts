import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoStores, MongoBridgeStorage } from '../../adapters/mongodb/index.js';
import { isStorageError } from '../../src/storage/index.js';
import { runBridgeStorageCases } from '../support/bridge-storage-cases.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

runBridgeStorageCases('mongodb', async () => {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_bridges');
  const client = new MongoClient(uri);
  const { store, bridges } = createMongoStores({ client, dbName });
  await store.init();
  return {
    storage: bridges,
    audit: store,
    async cleanup() {
      await bridges.close();
      await store.close();
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    },
  };
});

const closed = suite('bridge storage: mongodb after close');

closed('every call is unavailable once closed', async () => {
  const { uri } = await testMongoServer();
  const storage = new MongoBridgeStorage({ uri, dbName: freshDbName('allowance_bridges') });
  await storage.init();
  await storage.close();
  try {
    await storage.get('org_a', 'stripe_issuing');
    assert.unreachable('a closed storage answers nothing');
  } catch (err) {
    assert.ok(isStorageError(err, 'unavailable'), String(err));
  }
});

closed.run();
