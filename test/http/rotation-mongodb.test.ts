import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoStores, type MongoStores } from '../../adapters/mongodb/index.js';
import { generateSigningKey } from '../../src/crypto/index.js';
import { ManualClock } from '../../src/util/clock.js';
import {
  authorizeBody,
  clientToken,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type TestCredential,
  type TestResponse,
  type World,
} from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

const s = suite('API keys and rotation: two servers on one MongoDB, clocks two days apart');

let a: TestApp;
let b: TestApp;
let w: World;
let clockB: ManualClock;
let stores: MongoStores[] = [];
let uri: string;
let dbName: string;

function expect401(res: TestResponse, reason: string): void {
  assert.is(res.status, 401, res.text);
  assert.is(res.body.error.reason, reason, res.text);
}
const withKey = (c: TestCredential) => ({ headers: { 'x-api-key': `${c.key_id}.${c.secret}` } });

s.before(async () => {
  uri = (await testMongoServer()).uri;
  dbName = freshDbName();
  stores = [createMongoStores({ uri, dbName }), createMongoStores({ uri, dbName })];
  for (const st of stores) {
    await st.store.init();
    await st.credentials.init();
  }
  const signingKeys = [generateSigningKey()];
  const masterKey = randomBytes(32);
  clockB = new ManualClock(Date.now() + 2 * 86_400_000);
  const [first, second] = stores as [MongoStores, MongoStores];
  a = await startTestApp({ credentials: first.credentials, signingKeys, masterKey }, first.store);
  b = await startTestApp({ credentials: second.credentials, signingKeys, masterKey, clock: clockB }, second.store);
  w = await makeWorld(a);
});

s.after(async () => {
  await a?.close();
  await b?.close();
  for (const st of stores) {
    await st.credentials.close();
    await st.store.close();
  }
  const client = new MongoClient(uri);
  await client
    .db(dbName)
    .dropDatabase()
    .catch(() => {});
  await client.close();
});

s("readCredential reads MongoDB's clock", async () => {
  const created = await a.call('POST', '/v1/credentials', { auth: w.enterprise, body: {} });
  const before = Date.now();
  const read = await (stores[1] as MongoStores).credentials.readCredential(created.body.key_id);
  assert.ok(read);
  assert.is(read.credential.key_id, created.body.key_id);
  // The test server runs on this machine; server B's clock (two days ahead) plays no part.
  assert.ok(Math.abs(read.storeTimeMs - before) < 60_000, `${read.storeTimeMs} vs ${before}`);
});

s('an API key made on A authorizes on B; off by default on both', async () => {
  const spend = await setupSpending(w);
  const keyed = await a.call('POST', `/v1/processors/${w.processorId}/credentials`, {
    auth: OPERATOR_CRED,
    body: { api_key_auth: true },
  });
  assert.is(keyed.status, 201, keyed.text);
  const res = await b.call('POST', '/v1/authorize', { ...withKey(keyed.body), body: authorizeBody(spend.reference) });
  assert.is(res.status, 200, res.text);
  for (const t of [a, b]) expect401(await t.call('GET', '/v1/agents', withKey(w.enterprise)), 'api_key_not_enabled');
});

s("the grace is the store's: B, two days ahead, keeps the old secret; grace 0 ends it on both", async () => {
  const created = await a.call('POST', '/v1/credentials', { auth: w.enterprise, body: { api_key_auth: true } });
  const old: TestCredential = created.body;
  assert.is((await b.call('GET', '/v1/credentials', withKey(old))).status, 200);
  const rotated = await a.call('POST', `/v1/credentials/${old.key_id}/rotate`, {
    auth: w.enterprise,
    body: { grace_period_seconds: 3600 },
  });
  assert.is(rotated.status, 200, rotated.text);
  const fresh: TestCredential = rotated.body;
  // B read the credential less than a second ago on its clock: it does not read again on a wrong secret yet.
  clockB.advance(1_001);
  for (const t of [a, b]) {
    assert.is((await t.call('GET', '/v1/credentials', withKey(fresh))).status, 200, 'new secret');
    assert.is((await t.call('GET', '/v1/credentials', { auth: clientToken(fresh) })).status, 200);
    // B's clock is past previous_secret_expires_at by two days; the store's clock is not.
    assert.is((await t.call('GET', '/v1/credentials', withKey(old))).status, 200, 'old secret in grace');
    assert.is((await t.call('GET', '/v1/credentials', { auth: clientToken(old) })).status, 200);
  }

  const again = await a.call('POST', `/v1/credentials/${old.key_id}/rotate`, {
    auth: w.enterprise,
    body: { grace_period_seconds: 0 },
  });
  assert.is(again.status, 200, again.text);
  const newest: TestCredential = again.body;
  // A answers from its own write at once; B once its cached status is over (30 s on its clock) or on a secret
  // it does not know (read again at most once a second), as for a revocation.
  expect401(await a.call('GET', '/v1/credentials', withKey(fresh)), 'token_revoked');
  clockB.advance(30_000);
  expect401(await b.call('GET', '/v1/credentials', withKey(fresh)), 'token_revoked');
  expect401(await b.call('GET', '/v1/credentials', { auth: clientToken(fresh) }), 'token_revoked');
  for (const t of [a, b]) assert.is((await t.call('GET', '/v1/credentials', withKey(newest))).status, 200);

  await a.app.services.engine.audit.chainer.drain();
  const events = await (stores[0] as MongoStores).store.listAuditEvents(w.orgId, { limit: 1000 });
  const rotations = events.filter((e) => e.type === 'credential.rotated' && e.subject.id === old.key_id);
  assert.equal(
    rotations.map((e) => e.payload.grace_period_seconds),
    [3600, 0],
  );
});

s.run();
