import { randomBytes } from 'node:crypto';
import { type Document, MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AUDIT_PENDING_INDEX,
  createMongoStores,
  MongoWebhookStorage,
  TOMBSTONE_FIELD,
  WEBHOOK_COLLECTION_NAMES,
  WEBHOOK_DRAFT_CARRIERS,
  webhookIndexPlan,
} from '../../adapters/mongodb/index.js';
import type { AuditDraft, AuditEvent } from '../../src/audit/index.js';
import type { WebhookEndpoint } from '../../src/storage/index.js';
import type { WebhookConfig } from '../../src/webhooks/index.js';
import { makeWorld, startTestApp, type TestApp, type TestCredential } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';
import { acceptedEventIds, startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { endpoint as makeEndpoint, runWebhookStorageCases } from '../support/webhook-storage-cases.js';

runWebhookStorageCases('mongodb', async () => {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_webhooks');
  const client = new MongoClient(uri);
  // The stores of one server: the adapter lists and acknowledges the drafts of webhook endpoint writes.
  const { store, webhooks: storage } = createMongoStores({ client, dbName });
  await store.init();
  return {
    storage,
    audit: store,
    async cleanup() {
      await storage.close();
      await store.close();
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    },
  };
});

// ---

const mongo = suite('webhooks on MongoDB');

mongo('init creates the indexes; close leaves a borrowed client open; calls after close are unavailable', async () => {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_webhooks');
  const client = new MongoClient(uri);
  try {
    const storage = new MongoWebhookStorage({ client, dbName });
    await storage.init();
    const db = client.db(dbName);
    for (const [name, indexes] of webhookIndexPlan()) {
      const have = (await db.collection(WEBHOOK_COLLECTION_NAMES[name]).indexes()).map((i) => i.name);
      for (const index of indexes) assert.ok(have.includes(index.name as string), `${name}.${index.name}`);
    }
    const due = (await db.collection(WEBHOOK_COLLECTION_NAMES.deliveries).indexes()).find((i) => i.name === 'due_at');
    assert.ok(due?.sparse);
    await storage.close();
    await db.command({ ping: 1 });
    try {
      await storage.getEndpoint('org_a', 'whk_a');
      assert.unreachable('closed');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'unavailable');
    }
  } finally {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => {});
    await client.close();
  }
});

mongo(
  'endpoint drafts: the adapter indexes and lists webhook_endpoints; a deleted endpoint is a tombstone until acked',
  async () => {
    const { uri } = await testMongoServer();
    const dbName = freshDbName('allowance_webhooks');
    const client = new MongoClient(uri);
    try {
      const { store, webhooks } = createMongoStores({ client, dbName });
      await store.init();
      const coll = client.db(dbName).collection(WEBHOOK_COLLECTION_NAMES.endpoints);
      assert.ok(WEBHOOK_DRAFT_CARRIERS.includes(WEBHOOK_COLLECTION_NAMES.endpoints));
      const marker = (await coll.indexes()).find((i) => i.name === AUDIT_PENDING_INDEX.name);
      assert.ok(marker?.sparse, 'the adapter creates the marker index on webhook_endpoints');
      await webhooks.init();

      const at = '2026-11-23T10:00:00.000Z';
      const endpoint: WebhookEndpoint = makeEndpoint('org_a', { id: 'whk_tomb1', created_at: at, updated_at: at });
      const draft = (id: string, type: string): AuditDraft => ({
        id,
        org_id: 'org_a',
        at,
        type,
        actor: 'system',
        subject: { kind: 'webhook', id: endpoint.id },
        agent_id: null,
        payload: {},
      });
      await webhooks.insertEndpoint(endpoint, [draft('evt_tomb1', 'webhook.created')]);
      await store.ackAuditOutbox(await store.listAuditOutbox(10));
      const clean = await coll.findOne({ _id: endpoint.id } as Document);
      assert.equal([clean?._audit, clean?._audit_key], [undefined, undefined]);

      await webhooks.deleteEndpoint('org_a', endpoint.id, [draft('evt_tomb2', 'webhook.deleted')]);
      const tomb = await coll.findOne({ _id: endpoint.id } as Document);
      assert.ok(tomb?.[TOMBSTONE_FIELD], 'kept as a tombstone while its draft is pending');
      const listed = await store.listAuditOutbox(10);
      assert.equal(
        listed.map((d) => d.id),
        ['evt_tomb2'],
      );
      await webhooks.init();
      assert.ok(await coll.findOne({ _id: endpoint.id } as Document), 'init keeps a tombstone with drafts');
      await store.ackAuditOutbox(listed);
      assert.is(await coll.findOne({ _id: endpoint.id } as Document), null, 'the ack deletes the tombstone');

      // A tombstone left without drafts (a crash between the ack's steps) is purged by init.
      await coll.insertOne({ ...endpoint, _id: 'whk_tomb2', id: 'whk_tomb2', [TOMBSTONE_FIELD]: true } as Document);
      await webhooks.init();
      assert.is(await coll.findOne({ _id: 'whk_tomb2' } as Document), null);
      await store.close();
    } finally {
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    }
  },
);

const FAST: Partial<WebhookConfig> = {
  allowPrivateTargets: true,
  allowHttp: true,
  backoffBaseMs: 40,
  backoffCapMs: 150,
  maxAttempts: 100,
  pollIntervalMs: 50,
  timeoutMs: 2000,
};

/** The app on the MongoDB stores of `dbName`, as one server process would run it. */
async function serverOn(
  uri: string,
  dbName: string,
  masterKey: Buffer,
): Promise<{ t: TestApp; close(): Promise<void> }> {
  const { store, credentials } = createMongoStores({ uri, dbName });
  const webhooks = new MongoWebhookStorage({ client: store.mongoClient, dbName: store.databaseName });
  await credentials.init();
  const t = await startTestApp({ credentials, webhooks, masterKey, webhookConfig: FAST }, store);
  return {
    t,
    async close() {
      await t.app.stop();
      await t.close();
      await webhooks.close();
      await credentials.close();
      await store.close();
    },
  };
}

mongo(
  'receiver down, server restarted, receiver back: every event is delivered, every signature verifies',
  async () => {
    const { uri } = await testMongoServer();
    const dbName = freshDbName('allowance_webhooks');
    const masterKey = randomBytes(32);
    // Take a port for the receiver, then go down: connections are refused until it comes back.
    const probe = await startWebhookReceiver();
    const port = probe.port;
    const url = probe.url;
    await probe.close();

    let server = await serverOn(uri, dbName, masterKey);
    let receiver: WebhookReceiver | null = null;
    try {
      const w = await makeWorld(server.t);
      const enterprise: TestCredential = w.enterprise;
      await server.t.app.services.engine.audit.chainer.drain();
      const head = (await server.t.app.services.engine.context.store.getAuditHead(w.orgId))?.seq ?? 0;
      const created = await server.t.call('POST', '/v1/webhooks', { auth: enterprise, body: { url, events: ['*'] } });
      assert.is(created.status, 201, created.text);
      const endpointId: string = created.body.id;
      for (let i = 0; i < 3; i++) {
        const agent = await server.t.call('POST', '/v1/agents', { auth: enterprise, body: { name: `bot-${i}` } });
        assert.is(agent.status, 201, agent.text);
      }
      // Link every event so far and run dispatch passes (awaited, no sleeping) until each event has a delivery
      // and each was tried (and refused) at least once.
      await server.t.app.services.engine.audit.chainer.drain();
      const dispatcher = server.t.app.services.webhooks.dispatcher;
      assert.ok(dispatcher);
      for (let pass = 0; ; pass++) {
        await dispatcher.runOnce({ full: true });
        const log = await server.t.call('GET', `/v1/webhooks/${endpointId}/deliveries?limit=100`, { auth: enterprise });
        const items = log.body.items as { attempts: number; attempt_log: { error: string | null }[] }[];
        if (items.length >= 4 && items.every((d) => d.attempt_log.length >= 1)) {
          assert.ok(items.every((d) => d.attempt_log.every((a) => /ECONNREFUSED/.test(a.error ?? ''))));
          break;
        }
        if (pass >= 20) throw new Error(`deliveries were not attempted: ${log.text}`);
      }

      // The restart: this server stops (pending deliveries stay in the database), another starts on it.
      await server.close();
      server = await serverOn(uri, dbName, masterKey);
      const more = await server.t.call('POST', '/v1/agents', { auth: enterprise, body: { name: 'after-restart' } });
      assert.is(more.status, 201, more.text);

      receiver = await startWebhookReceiver({ port });
      receiver.secret = created.body.secret;
      await server.t.app.services.engine.audit.chainer.drain();
      const events: AuditEvent[] = await server.t.app.services.engine.context.store.listAuditEvents(w.orgId, {
        after_seq: head,
        limit: 1000,
      });
      assert.ok(events.length >= 5, events.map((e) => e.type).join());
      const expected = events.map((e) => e.id).sort();
      const r = receiver;
      await r.waitFor((got) => new Set(acceptedEventIds(got)).size >= expected.length, 20_000);
      await server.t.app.services.webhooks.dispatcher?.drain({ timeoutMs: 20_000 });

      assert.equal([...acceptedEventIds(r.received)].sort(), expected, 'each event accepted exactly once');
      for (const got of r.received) {
        assert.is(got.verified, true, `signature of ${got.json?.id}`);
        assert.is(got.headers['allowance-event-id'], got.json.id);
      }
      const log = await server.t.call('GET', `/v1/webhooks/${endpointId}/deliveries?limit=100`, { auth: enterprise });
      assert.is(log.body.items.length, expected.length);
      assert.ok(log.body.items.every((d: { status: string }) => d.status === 'delivered'));
      const hook = await server.t.call('GET', `/v1/webhooks/${endpointId}`, { auth: enterprise });
      assert.equal([hook.body.status, hook.body.consecutive_failures], ['active', 0]);
    } finally {
      await server.close();
      await receiver?.close();
      const client = new MongoClient(uri);
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    }
  },
);

mongo.run();
