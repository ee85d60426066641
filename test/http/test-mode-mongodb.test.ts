import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import { createMongoStores, type MongoStores } from '../../adapters/mongodb/index.js';
import { generateSigningKey } from '../../src/crypto/index.js';
import { startTestApp, type TestApp } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';
import { runTestModeScenario } from '../support/test-mode-cases.js';

const s = suite('live and test mode (MongoDB)');
let t: TestApp;
let stores: MongoStores;
let uri: string;
let dbName: string;

s.before(async () => {
  uri = (await testMongoServer()).uri;
  dbName = freshDbName();
  stores = createMongoStores({ uri, dbName });
  await stores.store.init();
  await stores.credentials.init();
  t = await startTestApp(
    { credentials: stores.credentials, signingKeys: [generateSigningKey()], masterKey: randomBytes(32) },
    stores.store,
  );
});

s.after(async () => {
  await t?.close();
  await stores?.credentials.close();
  await stores?.store.close();
  const client = new MongoClient(uri);
  await client
    .db(dbName)
    .dropDatabase()
    .catch(() => {});
  await client.close();
});

s('test data is a world of its own: reads, spend, decisions, credentials and audit chains', async () => {
  await runTestModeScenario(t, () => t.app.services.engine.audit.chainer.drain());
});

s.run();
