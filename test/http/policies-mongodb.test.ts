import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMongoStores, type MongoStores } from '../../adapters/mongodb/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { type AllowanceApp, createApp } from '../../src/http/index.js';
import { PolicyRegistry } from '../../src/policy/index.js';
import { defaultPolicy } from '../support/engine-fixture.js';
import { authorizeBody, clientToken, OPERATOR, type TestCredential } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';
import { vendorPolicy } from '../support/policy-uploads.js';

const OPERATOR_CRED: TestCredential = { key_id: OPERATOR.keyId, secret: OPERATOR.secret };

interface Node {
  url: string;
  registry: PolicyRegistry;
  stores: MongoStores;
  engine: Engine;
  app: AllowanceApp;
  server: Server;
  close(): Promise<void>;
}

/** One server (app, engine, registry polling every 50 ms) on the shared database. */
async function node(uri: string, dbName: string, masterKey: Buffer): Promise<Node> {
  const stores = createMongoStores({ uri, dbName });
  const registry = new PolicyRegistry({ storage: stores.policies, base: await defaultPolicy() });
  const engine = createEngine({ store: stores.store, policy: registry });
  await engine.init();
  await stores.credentials.init();
  await stores.policies.init();
  await registry.refresh();
  registry.start(50);
  const app = createApp({
    engine,
    credentials: stores.credentials,
    masterKey,
    operator: OPERATOR,
    rateLimit: { perSecond: 10_000, burst: 10_000 },
    revocationRefreshMs: 60_000,
    policies: { storage: stores.policies, registry },
  });
  await app.start();
  const server = createServer(app.callback());
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    registry,
    stores,
    engine,
    app,
    server,
    async close() {
      await registry.stop();
      await app.stop();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await engine.close();
    },
  };
}

async function call(
  n: Node,
  method: string,
  path: string,
  auth: TestCredential,
  body?: unknown,
  raw?: Uint8Array,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${clientToken(auth)}` };
  let payload: string | Uint8Array | undefined;
  if (raw) {
    headers['content-type'] = 'application/gzip';
    payload = raw;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(n.url + path, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Awaits the node's registry swaps until `ready` holds (at most 200 swaps: 10 s at the 50 ms poll). */
async function until(n: Node, ready: () => boolean): Promise<void> {
  for (let swaps = 0; !ready(); swaps++) {
    if (swaps > 200) throw new Error('the policy change never reached this server');
    await n.registry.nextSwap();
  }
}

const hot = suite('policies on MongoDB: hot swap across two servers');

hot(
  'a promotion on one server takes effect on the other without a restart; rollback too; racing promotions converge',
  async () => {
    const { uri } = await testMongoServer();
    const dbName = freshDbName();
    const masterKey = randomBytes(32);
    const a = await node(uri, dbName, masterKey);
    const b = await node(uri, dbName, masterKey);
    try {
      const org = await call(a, 'POST', '/v1/orgs', OPERATOR_CRED, { name: 'Acme' });
      const prc = await call(a, 'POST', '/v1/processors', OPERATOR_CRED, { name: 'Pay' });
      const ent = (await call(a, 'POST', `/v1/orgs/${org.body.id}/credentials`, OPERATOR_CRED, { name: 'ci' })).body;
      const pcred = (await call(a, 'POST', `/v1/processors/${prc.body.id}/credentials`, OPERATOR_CRED)).body;
      const agent = await call(a, 'POST', '/v1/agents', ent, { name: 'buyer' });
      const authority = await call(a, 'POST', '/v1/authorities', ent, {
        agent_id: agent.body.id,
        currency: 'USD',
        limits: { per_transaction: 50_000 },
      });
      const reference = `tok_${randomBytes(6).toString('hex')}`;
      const binding = await call(a, 'POST', '/v1/bindings', ent, {
        agent_id: agent.body.id,
        authority_id: authority.body.id,
        processor_id: prc.body.id,
        credential: { type: 'network_token', reference },
      });
      assert.is(binding.status, 201);

      assert.is(
        (await call(a, 'POST', '/v1/policies', ent, undefined, await vendorPolicy('rev-1', ['mer_3c7a1b9f']))).status,
        201,
      );
      const started = performance.now();
      assert.is((await call(a, 'POST', '/v1/policies/rev-1/promote', ent)).status, 200);
      await until(b, () => b.registry.forOrg(org.body.id).org?.revision === 'rev-1');
      const latencyMs = performance.now() - started;
      const onB = await call(b, 'POST', '/v1/authorize', pcred, authorizeBody(reference));
      assert.is(onB.body.action, 'DENY');
      assert.equal(onB.body.reason_codes, ['policy:no_vendor']);
      assert.is(onB.body.org_policy_revision, 'rev-1');
      console.log(`promotion on A to effect on B: ${latencyMs.toFixed(0)} ms (50 ms poll)`);

      assert.is((await call(b, 'POST', '/v1/policies/rollback', ent)).body.active_revision, null);
      await until(a, () => a.registry.forOrg(org.body.id).org === null);
      const onA = await call(a, 'POST', '/v1/authorize', pcred, authorizeBody(reference));
      assert.is(onA.body.action, 'ALLOW');
      assert.is(onA.body.org_policy_revision, null);

      await call(a, 'POST', '/v1/policies', ent, undefined, await vendorPolicy('rev-2', []));
      await call(a, 'POST', '/v1/policies', ent, undefined, await vendorPolicy('rev-3', ['x']));
      const [pa, pb] = await Promise.all([
        call(a, 'POST', '/v1/policies/rev-2/promote', ent),
        call(b, 'POST', '/v1/policies/rev-3/promote', ent),
      ]);
      assert.is(pa.status, 200);
      assert.is(pb.status, 200);
      const final = (await a.stores.policies.getState(org.body.id)).active as string;
      assert.ok(final === 'rev-2' || final === 'rev-3');
      const other = final === 'rev-2' ? 'rev-3' : 'rev-2';
      const state = await a.stores.policies.getState(org.body.id);
      assert.is(state.previous[state.previous.length - 1], other, 'the loser was active first, then replaced');
      await until(a, () => a.registry.forOrg(org.body.id).org?.revision === final);
      await until(b, () => b.registry.forOrg(org.body.id).org?.revision === final);
    } finally {
      await b.close();
      await a.close();
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(uri);
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    }
  },
);

hot.run();
