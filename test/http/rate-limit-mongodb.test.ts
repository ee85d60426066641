import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoStores, type MongoStores } from '../../adapters/mongodb/index.js';
import { generateSigningKey } from '../../src/crypto/index.js';
import { type CredentialLimiter, localCredentialLimiter, RateLimiter } from '../../src/http/middleware/rate-limit.js';
import { mongoCredentialLimiter, RATE_LIMIT_COLLECTION } from '../../src/http/middleware/shared-rate-limit.js';
import { systemClock } from '../../src/util/clock.js';
import { makeWorld, startTestApp, type TestApp } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

const s = suite('per-credential limit shared by two servers on one MongoDB');

let stores: MongoStores[] = [];
let apps: TestApp[] = [];
let uri: string;
let dbName: string;
/** Calls of the local stand-in limiter: the shared counter must answer every request of the test. */
let fallbacks = 0;

// 1 request per one-second window plus 5 more per 6 s window: one credential gets 6 requests in its first
// second, and one more per further second (5 more per further 6 s). 20 requests, 10 on each server.
const RATE = { perSecond: 1, burst: 6 };
const PER_SERVER = 10;

s.before(async () => {
  uri = (await testMongoServer()).uri;
  dbName = freshDbName();
  stores = [createMongoStores({ uri, dbName }), createMongoStores({ uri, dbName })];
  const signingKeys = [generateSigningKey()];
  const masterKey = randomBytes(32);
  for (const st of stores) {
    await st.store.init();
    await st.credentials.init();
    const local = localCredentialLimiter(new RateLimiter(RATE.perSecond, RATE.burst, systemClock));
    const fallback: CredentialLimiter = {
      consume(keyId) {
        fallbacks += 1;
        return local.consume(keyId);
      },
    };
    const credentialLimiter = mongoCredentialLimiter({
      ...st.sharedLimits.mongo,
      ...RATE,
      // Generous: the test server is slow under load, and a timeout would be counted locally instead.
      timeoutMs: 5_000,
      fallback,
    });
    apps.push(await startTestApp({ credentials: st.credentials, signingKeys, masterKey, credentialLimiter }, st.store));
  }
});

s.after(async () => {
  for (const t of apps) await t.close();
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
  apps = [];
  stores = [];
});

s('requests of one credential on A and on B draw on one budget', async () => {
  const [a, b] = apps as [TestApp, TestApp];
  const w = await makeWorld(a);
  const statuses: number[] = [];
  const limited: unknown[] = [];
  const started = performance.now();
  for (let i = 0; i < PER_SERVER; i++) {
    for (const t of [a, b]) {
      const res = await t.call('GET', '/v1/agents', { auth: w.enterprise });
      statuses.push(res.status);
      if (res.status === 429) limited.push(res.body.error.details);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const passed = statuses.filter((x) => x === 200).length;
  // The most one shared budget lets through in the time the requests took; each server counting alone
  // would let through at least 6 of its own 10, 12 in all.
  const windows = Math.ceil(seconds) + 1;
  const most = windows * RATE.perSecond + (Math.floor(seconds / 6) + 1) * (RATE.burst - RATE.perSecond);
  assert.ok(passed >= RATE.burst && passed <= most, `passed ${passed} in ${seconds.toFixed(2)} s: ${statuses}`);
  assert.is(statuses.length - passed, limited.length);
  for (const d of limited) assert.is((d as { limit: string }).limit, 'credential');
  assert.is(fallbacks, 0, 'every request was counted by the shared counter');
  // The counters live in the database, one document per credential and window.
  const client = new MongoClient(uri);
  try {
    const docs = await client.db(dbName).collection(RATE_LIMIT_COLLECTION).find({}).toArray();
    assert.ok(docs.some((d) => String(d.key).includes(w.enterprise.key_id)));
  } finally {
    await client.close();
  }
});

s.run();
