import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoStores, type MongoStores } from '../../adapters/mongodb/index.js';
import { generateSigningKey } from '../../src/crypto/index.js';
import { makeWorld, setupSpending, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

const s = suite('agent-token revocation: two servers on one MongoDB');

let a: TestApp;
let b: TestApp;
let w: World;
let other: World;
let stores: MongoStores[] = [];
let uri: string;
let dbName: string;

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
  const apps: TestApp[] = [];
  for (const st of stores) {
    // The periodic refresh is left far off: the test awaits refresh() itself.
    apps.push(
      await startTestApp(
        { credentials: st.credentials, signingKeys, masterKey, revocationRefreshMs: 3_600_000 },
        st.store,
      ),
    );
  }
  [a, b] = apps as [TestApp, TestApp];
  w = await makeWorld(a, 'Acme');
  other = await makeWorld(a, 'Globex');
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

const verifyOn = async (t: TestApp, token: string) =>
  (await t.call('POST', '/v1/tokens/verify', { body: { token } })).body;

s('a revocation on A is seen by B after B refreshes; a cross-tenant attempt is 404 on either', async () => {
  const agent = (await setupSpending(w)).agentId;
  const attackerAgent = (await setupSpending(other)).agentId;
  const issued = await a.call('POST', '/v1/tokens', {
    auth: w.enterprise,
    body: { agent_id: agent, scope: ['payments:create'], target_service: 'shop.example' },
  });
  assert.is(issued.status, 201, issued.text);
  const { token, jti } = issued.body;
  for (const t of [a, b]) {
    const attack = await t.call('POST', '/v1/tokens/revoke', {
      auth: other.enterprise,
      body: { jti, agent_id: attackerAgent },
    });
    assert.is(attack.status, 404, attack.text);
  }
  await b.app.services.agentTokens.refresh();
  assert.is((await verifyOn(b, token)).valid, true);

  // Revoked through B (the token was issued on A: the issuance record is shared), seen by A after its pull.
  const revoked = await b.call('POST', '/v1/tokens/revoke', { auth: w.enterprise, body: { jti, agent_id: agent } });
  assert.is(revoked.status, 200, revoked.text);
  assert.is((await verifyOn(b, token)).reason, 'revoked');
  await a.app.services.agentTokens.refresh();
  assert.is((await verifyOn(a, token)).reason, 'revoked');
  assert.ok(a.app.services.agentTokens.revocationCursor >= 1);
});

s.run();
