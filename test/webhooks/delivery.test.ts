import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter, MemoryWebhookStorage } from '../../adapters/memory/index.js';
import { AuditChainer, type AuditDraft } from '../../src/audit/index.js';
import { createSecretBox } from '../../src/crypto/index.js';
import type { WebhookEndpoint } from '../../src/storage/index.js';
import { isoTime } from '../../src/util/clock.js';
import { newId } from '../../src/util/ids.js';
import {
  DEFAULT_WEBHOOK_CONFIG,
  deliveryId,
  secretAssociatedData,
  type WebhookConfig,
  WebhookDispatcher,
  type WebhookSender,
} from '../../src/webhooks/index.js';
import { makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { acceptedEventIds, startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/** Small delays so retries happen within a test. */
const FAST: Partial<WebhookConfig> = {
  allowPrivateTargets: true,
  allowHttp: true,
  backoffBaseMs: 20,
  backoffCapMs: 80,
  maxAttempts: 50,
  pollIntervalMs: 50,
  timeoutMs: 2000,
};

/** An audit draft of `type` for the org, as the engine would write with a change. */
function draft(orgId: string, type: string, payload: Record<string, unknown> = {}): AuditDraft {
  const at = Date.now();
  return {
    id: newId('evt', at),
    org_id: orgId,
    at: isoTime(at),
    type,
    actor: 'system',
    subject: { kind: 'agent', id: newId('agt', at) },
    agent_id: null,
    payload,
  };
}

interface Setup {
  t: TestApp;
  w: World;
  receiver: WebhookReceiver;
  webhooks: MemoryWebhookStorage;
}

async function setup(config: Partial<WebhookConfig>, respond: (n: number) => number): Promise<Setup> {
  const t = await startTestApp({ memoryWebhooks: true, webhookConfig: config });
  const webhooks = t.webhooks;
  const w = await makeWorld(t);
  const receiver = await startWebhookReceiver({ respond });
  return { t, w, receiver, webhooks };
}

async function teardown(s: Setup): Promise<void> {
  await s.t.app.stop();
  await s.t.close();
  await s.receiver.close();
}

async function register(s: Setup, events: string[]): Promise<{ id: string; secret: string }> {
  const res = await s.t.call('POST', '/v1/webhooks', { auth: s.w.enterprise, body: { url: s.receiver.url, events } });
  assert.is(res.status, 201, res.text);
  s.receiver.secret = res.body.secret;
  return res.body;
}

/** Links every draft and delivers everything that is due, retries included. */
async function settle(s: Setup): Promise<void> {
  await s.t.app.services.engine.audit.chainer.drain();
  await s.t.app.services.webhooks.dispatcher?.drain({ timeoutMs: 20_000 });
}

const delivery = suite('webhook delivery (memory)');

delivery('a receiver that fails for a while gets every event once it recovers; every signature verifies', async () => {
  const s = await setup(FAST, (n) => (n < 7 ? 500 : 200));
  try {
    await s.t.app.services.engine.audit.chainer.drain();
    const head = (await s.t.store.getAuditHead(s.w.orgId))?.seq ?? 0;
    const endpoint = await register(s, ['*']);
    for (let i = 0; i < 3; i++) {
      const agent = await s.t.call('POST', '/v1/agents', { auth: s.w.enterprise, body: { name: `bot-${i}` } });
      assert.is(agent.status, 201, agent.text);
    }
    await s.t.store.appendAuditDrafts(Array.from({ length: 6 }, (_, i) => draft(s.w.orgId, 'token.issued', { i })));
    await settle(s);

    const events = await s.t.store.listAuditEvents(s.w.orgId, { after_seq: head, limit: 1000 });
    assert.ok(events.length >= 10, `events: ${events.map((e) => e.type)}`);
    const accepted = acceptedEventIds(s.receiver.received);
    assert.equal([...accepted].sort(), events.map((e) => e.id).sort(), 'every event accepted exactly once');
    assert.ok(
      s.receiver.received.some((r) => r.answered === 500),
      'the outage happened',
    );
    for (const r of s.receiver.received) {
      assert.is(r.verified, true, `signature of ${r.json?.id}`);
      assert.is(r.headers['allowance-event-id'], r.json.id);
      assert.is(r.headers['allowance-delivery-id'], deliveryId(endpoint.id, r.json.id));
      assert.match(String(r.headers['content-type']), /^application\/json/);
      assert.match(String(r.headers['user-agent']), /^Allowance-Webhooks/);
    }
    const byId = new Map(events.map((e) => [e.id, e]));
    for (const r of s.receiver.received) {
      const e = byId.get(r.json.id);
      assert.ok(e, r.json.id);
      assert.equal([r.json.type, r.json.org_id, r.json.seq, r.json.created_at], [e?.type, s.w.orgId, e?.seq, e?.at]);
      assert.equal(r.json.data.subject, e?.subject);
    }
    // The delivery log says the same: all delivered, with the failed attempts recorded.
    const log = await s.t.call('GET', `/v1/webhooks/${endpoint.id}/deliveries?limit=100`, { auth: s.w.enterprise });
    assert.is(log.status, 200, log.text);
    assert.is(log.body.items.length, events.length);
    assert.ok(log.body.items.every((d: { status: string }) => d.status === 'delivered'));
    const attempts = log.body.items.flatMap((d: { attempt_log: { status_code: number }[] }) => d.attempt_log);
    assert.is(attempts.length, s.receiver.received.length);
    assert.is(attempts.filter((a: { status_code: number }) => a.status_code === 500).length, 7);
    const hook = await s.t.call('GET', `/v1/webhooks/${endpoint.id}`, { auth: s.w.enterprise });
    assert.equal([hook.body.status, hook.body.consecutive_failures], ['active', 0]);
  } finally {
    await teardown(s);
  }
});

delivery('new events wake the dispatcher at once, without waiting for a poll', async () => {
  const s = await setup({ ...FAST, pollIntervalMs: 60_000 }, () => 200);
  try {
    await register(s, ['agent.created']);
    const started = Date.now();
    const agent = await s.t.call('POST', '/v1/agents', { auth: s.w.enterprise, body: { name: 'quick' } });
    await s.receiver.waitFor((r) => r.some((x) => x.json?.data?.subject?.id === agent.body.id), 10_000);
    assert.ok(Date.now() - started < 5_000);
    const got = s.receiver.received.find((x) => x.json.data.subject.id === agent.body.id);
    assert.is(got?.json.type, 'agent.created');
    assert.is(got?.json.data.agent.name, 'quick');
    assert.is(got?.json.data.agent_id, agent.body.id);
    assert.is(got?.verified, true);
  } finally {
    await teardown(s);
  }
});

delivery('only subscribed types are delivered; N failed deliveries in a row disable the endpoint', async () => {
  const s = await setup({ ...FAST, maxAttempts: 2, disableAfterFailures: 3, concurrency: 1 }, () => 500);
  try {
    const endpoint = await register(s, ['agent.created']);
    await s.t.store.appendAuditDrafts([
      draft(s.w.orgId, 'agent.created'),
      draft(s.w.orgId, 'token.issued'),
      draft(s.w.orgId, 'agent.created'),
      draft(s.w.orgId, 'agent.created'),
      draft(s.w.orgId, 'binding.created'),
      draft(s.w.orgId, 'agent.created'),
    ]);
    await settle(s);
    assert.ok(s.receiver.received.every((r) => r.json.type === 'agent.created'));
    const hook = await s.t.call('GET', `/v1/webhooks/${endpoint.id}`, { auth: s.w.enterprise });
    assert.is(hook.body.status, 'disabled', hook.text);
    assert.ok(hook.body.disabled_at);
    assert.is(hook.body.consecutive_failures, 3);
    const log = await s.t.call('GET', `/v1/webhooks/${endpoint.id}/deliveries`, { auth: s.w.enterprise });
    const failed = log.body.items.filter((d: { status: string; attempts: number }) => d.status === 'failed');
    assert.is(failed.length, 4);
    // Three gave up after both attempts; the fourth was dropped before its second once the endpoint was disabled.
    assert.equal(failed.map((d: { attempts: number }) => d.attempts).sort(), [1, 2, 2, 2]);
    assert.is(s.receiver.received.length, 7);

    // Disabled: later events get no delivery.
    const before = s.receiver.received.length;
    await s.t.store.appendAuditDrafts([draft(s.w.orgId, 'agent.created')]);
    await settle(s);
    assert.is(s.receiver.received.length, before);
    const after = await s.t.call('GET', `/v1/webhooks/${endpoint.id}/deliveries`, { auth: s.w.enterprise });
    assert.is(after.body.items.length, 4);

    const audit = await s.t.store.listAuditEvents(s.w.orgId, { type: 'webhook.disabled', limit: 10 });
    assert.is(audit.length, 1);
    assert.equal(audit[0]?.subject, { kind: 'webhook', id: endpoint.id });
  } finally {
    await teardown(s);
  }
});

delivery('a delivered event resets the failure count', async () => {
  const s = await setup({ ...FAST, maxAttempts: 1, disableAfterFailures: 3, concurrency: 1 }, (n) =>
    n === 2 ? 200 : 500,
  );
  try {
    const endpoint = await register(s, ['token.issued']);
    for (let i = 0; i < 5; i++) {
      await s.t.store.appendAuditDrafts([draft(s.w.orgId, 'token.issued', { i })]);
      await settle(s);
    }
    const hook = await s.t.call('GET', `/v1/webhooks/${endpoint.id}`, { auth: s.w.enterprise });
    assert.equal([hook.body.status, hook.body.consecutive_failures], ['active', 2]);
  } finally {
    await teardown(s);
  }
});

// ---

const outbox = suite('webhook outbox (dispatcher alone)');

interface Bench {
  store: MemoryAdapter;
  chainer: AuditChainer;
  webhooks: MemoryWebhookStorage;
  endpoint: WebhookEndpoint;
  sent: { url: string; eventId: string; deliveryId: string }[];
  dispatcher(): WebhookDispatcher;
}

async function bench(options: { events?: string[] } = {}): Promise<Bench> {
  const store = new MemoryAdapter();
  const chainer = new AuditChainer({ store });
  const webhooks = new MemoryWebhookStorage({ outbox: store.auditOutbox });
  const box = createSecretBox(randomBytes(32));
  const now = Date.now();
  const id = newId('whk', now);
  const endpoint: WebhookEndpoint = {
    id,
    org_id: 'org_bench1',
    url: 'https://hooks.example.com/in',
    events: options.events ?? ['*'],
    description: null,
    status: 'active',
    secret_ciphertext: box.seal('whsec_bench', secretAssociatedData(id)),
    secret_last4: 'ench',
    cursor_seq: 0,
    consecutive_failures: 0,
    disabled_at: null,
    created_at: isoTime(now),
    updated_at: isoTime(now),
    version: 0,
  };
  await webhooks.insertEndpoint(endpoint);
  const sent: Bench['sent'] = [];
  const sender: WebhookSender = async (d) => {
    sent.push({
      url: d.url.href,
      eventId: d.headers['Allowance-Event-Id'] as string,
      deliveryId: d.headers['Allowance-Delivery-Id'] as string,
    });
    await new Promise((r) => setTimeout(r, 2));
    return { ok: true, statusCode: 204, error: null, durationMs: 2 };
  };
  const config = { ...DEFAULT_WEBHOOK_CONFIG, ...FAST };
  return {
    store,
    chainer,
    webhooks,
    endpoint,
    sent,
    dispatcher: () => new WebhookDispatcher({ webhooks, audit: store, box, config, sender }),
  };
}

outbox('fanning out again after a crash (cursor not moved) creates nothing twice', async () => {
  const b = await bench();
  await b.store.appendAuditDrafts([draft('org_bench1', 'agent.created'), draft('org_bench1', 'agent.revoked')]);
  await b.chainer.drain();
  const d = b.dispatcher();
  const first = await d.runOnce({ full: true });
  assert.equal(first, { fannedOut: 2, attempted: 2 });
  // The crash: deliveries were inserted, the cursor never moved.
  const ep = await b.webhooks.getEndpoint('org_bench1', b.endpoint.id);
  await b.webhooks.updateEndpoint('org_bench1', b.endpoint.id, ep?.version ?? 0, { cursor_seq: 0 });
  const again = await b.dispatcher().runOnce({ full: true });
  assert.equal(again, { fannedOut: 0, attempted: 0 });
  assert.is(b.sent.length, 2);
  assert.is((await b.webhooks.getEndpoint('org_bench1', b.endpoint.id))?.cursor_seq, 2);
});

outbox('an expired lease (a crash mid-attempt) is due again; a live one is left alone', async () => {
  const b = await bench();
  await b.store.appendAuditDrafts([draft('org_bench1', 'agent.created'), draft('org_bench1', 'agent.created')]);
  await b.chainer.drain();
  const events = await b.store.listAuditEvents('org_bench1', { limit: 10 });
  const [e1, e2] = events;
  const base = {
    org_id: 'org_bench1',
    endpoint_id: b.endpoint.id,
    event_type: 'agent.created',
    payload: { id: 'x' },
    status: 'delivering' as const,
    attempts: 1,
    attempt_log: [],
    delivered_at: null,
    created_at: isoTime(Date.now()),
    updated_at: isoTime(Date.now()),
    version: 1,
  };
  await b.webhooks.insertDeliveries([
    {
      ...base,
      id: deliveryId(b.endpoint.id, e1?.id ?? ''),
      event_id: e1?.id ?? '',
      event_seq: 1,
      next_attempt_at: isoTime(Date.now() - 1000),
    },
    {
      ...base,
      id: deliveryId(b.endpoint.id, e2?.id ?? ''),
      event_id: e2?.id ?? '',
      event_seq: 2,
      next_attempt_at: isoTime(Date.now() + 60_000),
    },
  ]);
  const pass = await b.dispatcher().runOnce({ full: true });
  assert.equal(pass, { fannedOut: 0, attempted: 1 });
  assert.equal(
    b.sent.map((x) => x.eventId),
    [e1?.id],
  );
  const retried = await b.webhooks.getDelivery('org_bench1', deliveryId(b.endpoint.id, e1?.id ?? ''));
  assert.equal([retried?.status, retried?.attempts, retried?.attempt_log.length], ['delivered', 2, 1]);
  const held = await b.webhooks.getDelivery('org_bench1', deliveryId(b.endpoint.id, e2?.id ?? ''));
  assert.is(held?.status, 'delivering');
});

outbox('two dispatchers on one storage send each delivery once', async () => {
  const b = await bench();
  await b.store.appendAuditDrafts(Array.from({ length: 30 }, () => draft('org_bench1', 'token.issued')));
  await b.chainer.drain();
  const one = b.dispatcher();
  const two = b.dispatcher();
  await Promise.all([one.drain(), two.drain(), one.runOnce({ full: true }), two.runOnce({ full: true })]);
  assert.is(b.sent.length, 30);
  assert.is(new Set(b.sent.map((x) => x.eventId)).size, 30);
  const log = await b.webhooks.listDeliveries('org_bench1', b.endpoint.id, { limit: 100 });
  assert.is(log.items.length, 30);
  assert.ok(log.items.every((d) => d.status === 'delivered' && d.attempts === 1));
});

outbox('a deleted endpoint: deliveries left behind are dropped unsent', async () => {
  const b = await bench();
  await b.store.appendAuditDrafts([draft('org_bench1', 'agent.created')]);
  await b.chainer.drain();
  const events = await b.store.listAuditEvents('org_bench1', { limit: 10 });
  const e = events[0];
  assert.ok(e);
  const orphan = {
    id: deliveryId('whk_gone', e.id),
    org_id: 'org_bench1',
    endpoint_id: 'whk_gone',
    event_id: e.id,
    event_type: e.type,
    event_seq: e.seq,
    payload: {},
    status: 'pending' as const,
    attempts: 0,
    attempt_log: [],
    next_attempt_at: isoTime(Date.now() - 1),
    delivered_at: null,
    created_at: isoTime(Date.now()),
    updated_at: isoTime(Date.now()),
    version: 0,
  };
  await b.webhooks.insertDeliveries([orphan]);
  await b.dispatcher().drain();
  assert.ok(b.sent.every((x) => x.deliveryId !== orphan.id));
  assert.is((await b.webhooks.getDelivery('org_bench1', orphan.id))?.status, 'failed');
});

delivery.run();
outbox.run();
