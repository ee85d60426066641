import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WebhookConfig } from '../../src/webhooks/index.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { makeWorld, startTestApp, type TestApp, type TestResponse, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

function expectError(res: TestResponse, status: number, code: string): void {
  assert.is(res.status, status, res.text);
  assert.is(res.body?.error?.code, code, res.text);
  assertMatches('ErrorResponse', res.body);
}

const FAST: Partial<WebhookConfig> = {
  allowPrivateTargets: true,
  allowHttp: true,
  backoffBaseMs: 20,
  backoffCapMs: 80,
  maxAttempts: 50,
  pollIntervalMs: 50,
  timeoutMs: 2000,
};

let dns: TestDnsServer;
let t: TestApp;
let w: World;
let receiver: WebhookReceiver;

const d = suite('verified domains over HTTP (a real DNS server on loopback)');
d.before(async () => {
  dns = await startDnsServer();
  receiver = await startWebhookReceiver();
  t = await startTestApp({
    memoryWebhooks: true,
    webhookConfig: FAST,
    dns: { servers: [dns.address], timeoutMs: 500 },
    // Webhook hosts of the tests' domains resolve to the local receiver.
    webhookResolve: async () => [{ address: '127.0.0.1', family: 4 }],
  });
  await t.app.services.webhooks.stop();
  w = await makeWorld(t);
});
d.after(async () => {
  await t.close();
  await receiver.close();
  await dns.close();
});

let acmeId = '';
let token = '';

d('add: the TXT record to publish; normalized; duplicates 409; bad names 422', async () => {
  const added = await t.call('POST', '/v1/domains', { auth: w.enterprise, body: { domain: 'Acme.Example.' } });
  assert.is(added.status, 201, added.text);
  assertMatches('Domain', added.body);
  assert.match(added.body.id, /^dom_[0-9a-z]+$/);
  assert.is(added.body.domain, 'acme.example');
  assert.is(added.body.status, 'pending');
  assert.is(added.body.verification.type, 'TXT');
  assert.is(added.body.verification.name, 'acme.example');
  assert.match(added.body.verification.value, /^allowance-verification=[A-Za-z0-9_-]{32}$/);
  acmeId = added.body.id;
  token = added.body.verification.value;

  expectError(
    await t.call('POST', '/v1/domains', { auth: w.enterprise, body: { domain: 'acme.example' } }),
    409,
    'conflict',
  );
  for (const domain of ['localhost', '1.2.3.4', 'a..b', '-x.example', 'exa mple.com', `${'a'.repeat(64)}.example`]) {
    expectError(
      await t.call('POST', '/v1/domains', { auth: w.enterprise, body: { domain } }),
      422,
      'validation_failed',
    );
  }
  expectError(await t.call('POST', '/v1/domains', { auth: w.enterprise, body: {} }), 422, 'validation_failed');
});

d('verify: NXDOMAIN and a missing record are 422 with a reason; the published token verifies', async () => {
  const missing = await t.call('POST', `/v1/domains/${acmeId}/verify`, { auth: w.enterprise });
  expectError(missing, 422, 'domain_verification_failed');
  assert.is(missing.body.error.details.reason, 'domain_not_found');
  assert.ok(dns.queries.includes('acme.example'), `queries: ${dns.queries}`);

  dns.txt.set('acme.example', [['v=spf1 -all'], ['allowance-verification=someone-elses-token']]);
  const wrong = await t.call('POST', `/v1/domains/${acmeId}/verify`, { auth: w.enterprise });
  expectError(wrong, 422, 'domain_verification_failed');
  assert.is(wrong.body.error.details.reason, 'txt_record_missing');
  const still = await t.call('GET', `/v1/domains/${acmeId}`, { auth: w.enterprise });
  assert.is(still.body.status, 'pending');
  assert.ok(still.body.last_checked_at);

  // A long record split into two character-strings is read joined.
  dns.txt.set('acme.example', [['v=spf1 -all'], [token.slice(0, 20), token.slice(20)]]);
  const ok = await t.call('POST', `/v1/domains/${acmeId}/verify`, { auth: w.enterprise });
  assert.is(ok.status, 200, ok.text);
  assertMatches('Domain', ok.body);
  assert.is(ok.body.status, 'verified');
  assert.ok(ok.body.verified_at);
  const again = await t.call('POST', `/v1/domains/${acmeId}/verify`, { auth: w.enterprise });
  assert.is(again.body.status, 'verified');
  assert.is(again.body.verified_at, ok.body.verified_at);
});

d('a resolver failure is 503 dns_unavailable, not a failed proof', async () => {
  const other = await t.call('POST', '/v1/domains', { auth: w.enterprise, body: { domain: 'other.example' } });
  dns.failing = true;
  try {
    expectError(
      await t.call('POST', `/v1/domains/${other.body.id}/verify`, { auth: w.enterprise }),
      503,
      'dns_unavailable',
    );
  } finally {
    dns.failing = false;
  }
  assert.is((await t.call('GET', `/v1/domains/${other.body.id}`, { auth: w.enterprise })).body.status, 'pending');
});

d('list, get, tenancy, delete; audit events for added, verified and removed', async () => {
  const list = await t.call('GET', '/v1/domains', { auth: w.enterprise });
  assert.is(list.status, 200, list.text);
  assertMatches('DomainList', list.body);
  assert.equal(list.body.items.map((x: { domain: string }) => x.domain).sort(), ['acme.example', 'other.example']);

  const stranger = await makeWorld(t, 'Stranger');
  expectError(await t.call('GET', `/v1/domains/${acmeId}`, { auth: stranger.enterprise }), 404, 'not_found');
  expectError(await t.call('POST', `/v1/domains/${acmeId}/verify`, { auth: stranger.enterprise }), 404, 'not_found');
  expectError(await t.call('DELETE', `/v1/domains/${acmeId}`, { auth: stranger.enterprise }), 404, 'not_found');
  assert.equal((await t.call('GET', '/v1/domains', { auth: stranger.enterprise })).body.items, []);
  expectError(await t.call('GET', '/v1/domains', { auth: w.processor }), 403, 'forbidden');

  const other = list.body.items.find((x: { domain: string }) => x.domain === 'other.example');
  const removed = await t.call('DELETE', `/v1/domains/${other.id}`, { auth: w.enterprise });
  assert.is(removed.status, 200, removed.text);
  expectError(await t.call('DELETE', `/v1/domains/${other.id}`, { auth: w.enterprise }), 404, 'not_found');

  await t.engine.audit.chainer.drain();
  const types = async (type: string) =>
    (await t.call('GET', `/v1/audit?type=${type}`, { auth: w.enterprise })).body.items.map(
      (e: { subject: { id: string }; payload: { domain: string } }) => e.payload.domain,
    );
  assert.equal((await types('domain.added')).sort(), ['acme.example', 'other.example']);
  assert.equal(await types('domain.verified'), ['acme.example']);
  assert.equal(await types('domain.removed'), ['other.example']);
});

d('webhooks limited to verified domains: at registration and before every delivery attempt', async () => {
  const settings = await t.call('GET', '/v1/settings', { auth: w.enterprise });
  assert.equal(settings.body, { org_id: w.orgId, webhooks_verified_domains_only: false, livemode: true });
  // Registered while the setting is off: a bare address, outside every domain.
  const bare = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: { url: receiver.url, events: ['agent.created'] },
  });
  assert.is(bare.status, 201, bare.text);

  const on = await t.call('PATCH', '/v1/settings', {
    auth: w.enterprise,
    body: { webhooks_verified_domains_only: true },
  });
  assert.is(on.status, 200, on.text);
  assertMatches('OrgSettings', on.body);
  assert.is(on.body.webhooks_verified_domains_only, true);
  expectError(await t.call('PATCH', '/v1/settings', { auth: w.enterprise, body: {} }), 422, 'validation_failed');
  expectError(
    await t.call('PATCH', '/v1/settings', { auth: w.enterprise, body: { webhooks_verified_domains_only: 'yes' } }),
    422,
    'validation_failed',
  );

  const port = receiver.port;
  for (const url of [`http://acme.example:${port}/hook`, `http://hooks.eu.acme.example:${port}/hook`]) {
    const res = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body: { url, events: ['agent.created'] } });
    assert.is(res.status, 201, `${url}: ${res.text}`);
    assert.is((await t.call('DELETE', `/v1/webhooks/${res.body.id}`, { auth: w.enterprise })).status, 200);
  }
  for (const url of [
    receiver.url,
    `http://evilacme.example:${port}/hook`,
    `http://acme.example.evil:${port}/hook`,
    `http://other.example:${port}/hook`,
  ]) {
    const res = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body: { url, events: ['agent.created'] } });
    expectError(res, 422, 'webhook_domain_not_verified');
  }

  // The endpoint registered before gets nothing while the setting is on: the attempt is refused, not sent.
  const agent = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'hooked' } });
  assert.is(agent.status, 201, agent.text);
  await t.engine.audit.chainer.drain();
  const dispatcher = t.app.services.webhooks.dispatcher;
  if (!dispatcher) throw new Error('no dispatcher');
  const pass = await dispatcher.runOnce({ full: true });
  assert.is(pass.attempted, 1);
  assert.is(receiver.received.length, 0);
  const log = await t.call('GET', `/v1/webhooks/${bare.body.id}/deliveries`, { auth: w.enterprise });
  assert.is(log.body.items.length, 1, log.text);
  assert.is(log.body.items[0].status, 'pending');
  assert.match(
    log.body.items[0].attempt_log[0].error,
    /^not sent: the host 127\.0\.0\.1 is not within a verified domain/,
  );

  // Off again: the retry is delivered.
  const off = await t.call('PATCH', '/v1/settings', {
    auth: w.enterprise,
    body: { webhooks_verified_domains_only: false },
  });
  assert.is(off.body.webhooks_verified_domains_only, false);
  await dispatcher.drain({ timeoutMs: 20_000 });
  assert.is(receiver.received.length, 1);
  assert.is(receiver.received[0]?.json.type, 'agent.created');

  await t.engine.audit.chainer.drain();
  const changes = await t.call('GET', '/v1/audit?type=org.settings_updated', { auth: w.enterprise });
  assert.equal(
    changes.body.items.map((e: { payload: { changes: unknown } }) => e.payload.changes),
    [{ webhooks_verified_domains_only: true }, { webhooks_verified_domains_only: false }],
  );
});

d('the OpenAPI document lists the domain routes', async () => {
  const doc = (await t.call('GET', '/openapi.json')).body;
  assert.ok(doc.paths['/v1/domains'].post);
  assert.ok(doc.paths['/v1/domains/{id}/verify'].post);
  assert.ok(doc.paths['/v1/domains/{id}'].delete);
  assert.ok(doc.paths['/v1/settings'].patch);
});

d.run();
