import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { MemoryWebhookStorage } from '../../adapters/memory/index.js';
import { AUDIT_EVENT_TYPES } from '../../src/audit/index.js';
import type { WebhookDelivery } from '../../src/storage/index.js';
import { isoTime } from '../../src/util/clock.js';
import { deliveryId, MAX_WEBHOOKS_PER_ORG } from '../../src/webhooks/index.js';
import { makeWorld, startTestApp, type TestApp, type TestResponse, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

function ok(res: TestResponse, status: number, schema?: string): void {
  assert.is(res.status, status, res.text);
  if (schema) assertMatches(schema, res.body);
}

function expectError(res: TestResponse, status: number, code: string): void {
  assert.is(res.status, status, res.text);
  assert.is(res.body?.error?.code, code, res.text);
  assertMatches('ErrorResponse', res.body);
}

const PUBLIC_URL = 'https://8.8.8.8/allowance/hooks?tenant=acme';

let t: TestApp;
let w: World;
let storage: MemoryWebhookStorage;

const api = suite('webhooks API');
api.before(async () => {
  // The default configuration: https to public addresses only. Nothing here is ever delivered: the
  // dispatcher is stopped so no request leaves the machine.
  t = await startTestApp({ memoryWebhooks: true });
  storage = t.webhooks;
  await t.app.services.webhooks.stop();
  w = await makeWorld(t);
});
api.after(async () => {
  await t.app.stop();
  await t.close();
});

api('register: the secret is shown once, then masked; list, get, delete', async () => {
  const created = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: { url: PUBLIC_URL, events: ['agent.created', 'authorization.approved'], description: 'ops' },
  });
  ok(created, 201, 'CreatedWebhook');
  assert.match(created.body.id, /^whk_[0-9a-z]+$/);
  assert.match(created.body.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.equal(
    [created.body.status, created.body.url, created.body.events, created.body.description],
    ['active', PUBLIC_URL, ['agent.created', 'authorization.approved'], 'ops'],
  );
  const secret: string = created.body.secret;
  const masked = `whsec_****${secret.slice(-4)}`;

  const got = await t.call('GET', `/v1/webhooks/${created.body.id}`, { auth: w.enterprise });
  ok(got, 200, 'Webhook');
  assert.is(got.body.secret, masked);
  const list = await t.call('GET', '/v1/webhooks', { auth: w.enterprise });
  ok(list, 200, 'WebhookPage');
  assert.ok(list.body.items.some((x: { id: string }) => x.id === created.body.id));
  assert.not.ok(list.text.includes(secret));
  assert.not.ok(got.text.includes(secret));
  // Sealed at rest: the stored row holds no clear secret.
  const row = await storage.getEndpoint(w.orgId, created.body.id);
  assert.ok(row);
  assert.not.ok(JSON.stringify(row).includes(secret));

  const del = await t.call('DELETE', `/v1/webhooks/${created.body.id}`, { auth: w.enterprise });
  ok(del, 200, 'Webhook');
  expectError(await t.call('GET', `/v1/webhooks/${created.body.id}`, { auth: w.enterprise }), 404, 'not_found');
  expectError(await t.call('DELETE', `/v1/webhooks/${created.body.id}`, { auth: w.enterprise }), 404, 'not_found');

  // Both changes are audit events of the org.
  await t.app.services.engine.audit.chainer.drain();
  const audit = await t.store.listAuditEvents(w.orgId, { subject_id: created.body.id, limit: 10 });
  assert.equal(
    audit.map((e) => e.type),
    ['webhook.created', 'webhook.deleted'],
  );
  assert.is(audit[0]?.actor, w.enterprise.key_id);
  assert.not.ok(JSON.stringify(audit).includes(secret));
  assert.not.ok(JSON.stringify(audit).includes('tenant=acme'));
});

api('"*" subscribes to everything; every audit event type is accepted', async () => {
  const all = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body: { url: PUBLIC_URL, events: ['*'] } });
  ok(all, 201, 'CreatedWebhook');
  const each = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: { url: PUBLIC_URL, events: [...AUDIT_EVENT_TYPES] },
  });
  ok(each, 201, 'CreatedWebhook');
  for (const id of [all.body.id, each.body.id]) await t.call('DELETE', `/v1/webhooks/${id}`, { auth: w.enterprise });
});

api('bad bodies are 422 validation_failed', async () => {
  const bad: unknown[] = [
    {},
    { url: PUBLIC_URL },
    { url: PUBLIC_URL, events: [] },
    { url: PUBLIC_URL, events: ['agent.created', 'agent.created'] },
    { url: PUBLIC_URL, events: ['agent.exploded'] },
    { url: PUBLIC_URL, events: 'agent.created' },
    { url: PUBLIC_URL, events: ['*'], extra: 1 },
    { url: 'http://8.8.8.8/hooks', events: ['*'] },
    { url: 'https://user:pw@8.8.8.8/hooks', events: ['*'] },
    { url: 'not a url', events: ['*'] },
    { url: `https://8.8.8.8/${'a'.repeat(2100)}`, events: ['*'] },
  ];
  for (const body of bad) {
    expectError(await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body }), 422, 'validation_failed');
  }
  const res = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body: { url: PUBLIC_URL, events: ['nope'] } });
  assert.ok(res.body.error.details.some((d: { path: string }) => d.path.startsWith('/events')));
});

api('private and loopback targets are refused with webhook_target_forbidden', async () => {
  for (const url of [
    'https://127.0.0.1/hooks',
    'https://localhost/hooks',
    'https://[::1]/hooks',
    'https://[::ffff:10.0.0.1]/hooks',
    'https://169.254.169.254/latest',
    'https://192.168.1.20/hooks',
  ]) {
    const res = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body: { url, events: ['*'] } });
    expectError(res, 422, 'webhook_target_forbidden');
  }
  const unresolvable = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: { url: 'https://no-such-host.invalid/hooks', events: ['*'] },
  });
  expectError(unresolvable, 422, 'webhook_target_unresolvable');
});

api('roles and tenancy: enterprise only, own org only', async () => {
  const created = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: { url: PUBLIC_URL, events: ['*'] },
  });
  ok(created, 201);
  const id = created.body.id;
  expectError(await t.call('GET', '/v1/webhooks', { auth: w.processor }), 403, 'forbidden');
  expectError(await t.call('GET', '/v1/webhooks'), 401, 'unauthorized');
  const other = await makeWorld(t, 'Globex');
  expectError(await t.call('GET', `/v1/webhooks/${id}`, { auth: other.enterprise }), 404, 'not_found');
  expectError(await t.call('DELETE', `/v1/webhooks/${id}`, { auth: other.enterprise }), 404, 'not_found');
  expectError(await t.call('GET', `/v1/webhooks/${id}/deliveries`, { auth: other.enterprise }), 404, 'not_found');
  const theirs = await t.call('GET', '/v1/webhooks', { auth: other.enterprise });
  assert.equal(theirs.body.items, []);
  await t.call('DELETE', `/v1/webhooks/${id}`, { auth: w.enterprise });
});

api('the delivery log pages newest event first and filters by status', async () => {
  const created = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: { url: PUBLIC_URL, events: ['*'] },
  });
  const endpointId: string = created.body.id;
  const now = isoTime(Date.now());
  const rows: WebhookDelivery[] = Array.from({ length: 5 }, (_, i) => ({
    id: deliveryId(endpointId, `evt_${i}`),
    org_id: w.orgId,
    endpoint_id: endpointId,
    event_id: `evt_${i}`,
    event_type: 'agent.created',
    event_seq: 100 + i,
    payload: { id: `evt_${i}` },
    status: i % 2 === 0 ? 'delivered' : 'pending',
    attempts: 1,
    attempt_log: [{ at: now, status_code: i % 2 === 0 ? 200 : 503, error: null, duration_ms: 12 }],
    next_attempt_at: i % 2 === 0 ? null : now,
    delivered_at: i % 2 === 0 ? now : null,
    created_at: now,
    updated_at: now,
    version: 1,
  }));
  assert.is(await storage.insertDeliveries(rows), 5);
  assert.is(await storage.insertDeliveries(rows), 0, 'insert-if-absent');
  const first = await t.call('GET', `/v1/webhooks/${endpointId}/deliveries?limit=2`, { auth: w.enterprise });
  ok(first, 200, 'WebhookDeliveryPage');
  assert.equal(
    first.body.items.map((d: { event_seq: number }) => d.event_seq),
    [104, 103],
  );
  assert.ok(first.body.next_cursor);
  const second = await t.call(
    'GET',
    `/v1/webhooks/${endpointId}/deliveries?limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    { auth: w.enterprise },
  );
  assert.equal(
    second.body.items.map((d: { event_seq: number }) => d.event_seq),
    [102, 101],
  );
  const pending = await t.call('GET', `/v1/webhooks/${endpointId}/deliveries?status=pending`, { auth: w.enterprise });
  assert.equal(
    pending.body.items.map((d: { event_seq: number }) => d.event_seq),
    [103, 101],
  );
  assert.equal(pending.body.items[0].attempt_log[0].status_code, 503);
  expectError(
    await t.call('GET', `/v1/webhooks/${endpointId}/deliveries?status=lost`, { auth: w.enterprise }),
    422,
    'validation_failed',
  );
  // Deleting the endpoint drops its deliveries.
  await t.call('DELETE', `/v1/webhooks/${endpointId}`, { auth: w.enterprise });
  assert.is(await storage.getDelivery(w.orgId, rows[1]?.id ?? ''), null);
});

api(`an org registers at most ${MAX_WEBHOOKS_PER_ORG} endpoints`, async () => {
  const org = await makeWorld(t, 'Busy');
  for (let i = 0; i < MAX_WEBHOOKS_PER_ORG; i++) {
    ok(await t.call('POST', '/v1/webhooks', { auth: org.enterprise, body: { url: PUBLIC_URL, events: ['*'] } }), 201);
  }
  expectError(
    await t.call('POST', '/v1/webhooks', { auth: org.enterprise, body: { url: PUBLIC_URL, events: ['*'] } }),
    409,
    'conflict',
  );
});

api('/openapi.json documents the webhook routes and schemas', async () => {
  const doc = (await t.call('GET', '/openapi.json')).body;
  assert.ok(doc.paths['/v1/webhooks'].post);
  assert.ok(doc.paths['/v1/webhooks'].get);
  assert.ok(doc.paths['/v1/webhooks/{id}'].delete);
  assert.ok(doc.paths['/v1/webhooks/{id}/deliveries'].get);
  assert.ok(doc.components.schemas.CreateWebhook.properties.events);
  assert.ok(doc.components.schemas.WebhookDelivery);
  assert.equal(doc.paths['/v1/webhooks'].post['x-roles'], ['enterprise']);
});

// ---

const unconfigured = suite('webhooks without storage');

unconfigured('an app built without webhook storage answers 503 on the webhook routes', async () => {
  const app = await startTestApp();
  try {
    const world = await makeWorld(app);
    const res = await app.call('GET', '/v1/webhooks', { auth: world.enterprise });
    expectError(res, 503, 'storage_unavailable');
  } finally {
    await app.app.stop();
    await app.close();
  }
});

api.run();
unconfigured.run();
