import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  authorizeBody,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type TestCredential,
  type TestResponse,
  type World,
} from '../support/http-app.js';

function expect401(res: TestResponse, reason: string): void {
  assert.is(res.status, 401, res.text);
  assert.is(res.body?.error?.code, 'unauthorized', res.text);
  assert.is(res.body.error.reason, reason, res.text);
}

const apiKey = (c: TestCredential) => `${c.key_id}.${c.secret}`;
const withKey = (c: TestCredential | string) => ({
  headers: { 'x-api-key': typeof c === 'string' ? c : apiKey(c) },
});

const s = suite('API-key header auth');
let t: TestApp;
let w: World;
let keyed: TestCredential;

s.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
  const created = await t.call('POST', '/v1/credentials', {
    auth: w.enterprise,
    body: { name: 'server-side', api_key_auth: true },
  });
  assert.is(created.status, 201, created.text);
  assert.is(created.body.api_key_auth, true);
  keyed = created.body;
});
s.after(() => t.close());

s('off by default: a credential created without the option gets a distinct 401 reason', async () => {
  const plain = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { name: 'plain' } });
  assert.is(plain.status, 201, plain.text);
  assert.is(plain.body.api_key_auth, false);
  expect401(await t.call('GET', '/v1/agents', withKey(plain.body)), 'api_key_not_enabled');
  expect401(
    await t.call('GET', '/v1/agents', { headers: { authorization: `Bearer ${apiKey(plain.body)}` } }),
    'api_key_not_enabled',
  );
  // The operator credential of the environment has no such option either.
  expect401(
    await t.call('POST', '/v1/orgs', { ...withKey(OPERATOR_CRED), body: { name: 'x' } }),
    'api_key_not_enabled',
  );
  // Its signed tokens still work.
  assert.is((await t.call('GET', '/v1/agents', { auth: plain.body })).status, 200);
});

s('x-api-key and Authorization: Bearer <key_id>.<secret> authenticate with the same role and org', async () => {
  const agent = await t.call('POST', '/v1/agents', { ...withKey(keyed), body: { name: 'keyed-bot' } });
  assert.is(agent.status, 201, agent.text);
  assert.is(agent.body.org_id, w.orgId);
  const listed = await t.call('GET', '/v1/agents', {
    headers: { authorization: `Bearer ${apiKey(keyed)}` },
  });
  assert.is(listed.status, 200, listed.text);
  assert.ok(listed.body.items.some((a: { id: string }) => a.id === agent.body.id));
  // The role is the credential's: an enterprise key is refused on a processor route.
  const authorize = await t.call('POST', '/v1/authorize', { ...withKey(keyed), body: authorizeBody('tok_x') });
  assert.is(authorize.status, 403, authorize.text);
  assert.is(authorize.body.error.code, 'forbidden');
  // The audit trail names the credential as for a signed token.
  await t.app.services.engine.audit.chainer.drain();
  const events = await t.store.listAuditEvents(w.orgId, { limit: 1000 });
  const created = events.find((e) => e.type === 'agent.created' && e.subject.id === agent.body.id);
  assert.is(created?.actor, keyed.key_id);
  assert.not.ok(JSON.stringify(events).includes(keyed.secret), 'the secret is in the audit trail');
});

s('a processor credential with the option authorizes payments by API key', async () => {
  const spend = await setupSpending(w);
  const created = await t.call('POST', `/v1/processors/${w.processorId}/credentials`, {
    auth: OPERATOR_CRED,
    body: { api_key_auth: true },
  });
  assert.is(created.status, 201, created.text);
  const res = await t.call('POST', '/v1/authorize', { ...withKey(created.body), body: authorizeBody(spend.reference) });
  assert.is(res.status, 200, res.text);
  assert.is(res.body.action, 'ALLOW');
});

s('the same 401 reasons as tokens: wrong secret, unknown key, revoked, malformed, two credentials', async () => {
  expect401(await t.call('GET', '/v1/agents', withKey({ ...keyed, secret: `${keyed.secret}x` })), 'invalid_token');
  expect401(await t.call('GET', '/v1/agents', withKey({ ...keyed, secret: 'sk_short' })), 'invalid_token');
  expect401(await t.call('GET', '/v1/agents', withKey({ key_id: 'ek_doesnotexist', secret: 'sk_x' })), 'unknown_key');
  for (const bad of ['no-dot-here', `${keyed.key_id}.`, `.${keyed.secret}`, `${apiKey(keyed)}.extra`, 'EK_X.sk_y']) {
    expect401(await t.call('GET', '/v1/agents', withKey(bad)), 'invalid_token');
  }
  // An API key beside a bearer token is refused rather than one of them picked.
  const both = await t.call('GET', '/v1/agents', { auth: w.enterprise, headers: { 'x-api-key': apiKey(keyed) } });
  expect401(both, 'invalid_token');

  const doomed = await t.call('POST', '/v1/credentials', {
    auth: w.enterprise,
    body: { name: 'doomed', api_key_auth: true },
  });
  assert.is((await t.call('GET', '/v1/agents', withKey(doomed.body))).status, 200);
  assert.is((await t.call('DELETE', `/v1/credentials/${doomed.body.key_id}`, { auth: w.enterprise })).status, 200);
  // Refused at once, although the key was verified (and cached) a moment ago.
  expect401(await t.call('GET', '/v1/agents', withKey(doomed.body)), 'token_revoked');
});

s('a verified key is cached: the same key again is not verified (hashed) again', async () => {
  const service = t.app.services.credentials;
  const original = service.verifyApiKey.bind(service);
  let calls = 0;
  service.verifyApiKey = (...args: Parameters<typeof original>) => {
    calls++;
    return original(...args);
  };
  try {
    const fresh = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { api_key_auth: true } });
    for (let i = 0; i < 3; i++) assert.is((await t.call('GET', '/v1/agents', withKey(fresh.body))).status, 200);
    assert.is(calls, 1);
    // A wrong secret for the same key id is never answered from the cache.
    expect401(
      await t.call('GET', '/v1/agents', withKey({ ...fresh.body, secret: `${fresh.body.secret}x` })),
      'invalid_token',
    );
    assert.is(calls, 2);
  } finally {
    service.verifyApiKey = original;
  }
});

s('the request is rate limited per credential as with tokens (one bucket for both ways in)', async () => {
  // The operator's setup takes four of its own bucket; the credential below gets a bucket of five.
  const limited = await startTestApp({ rateLimit: { perSecond: 0.001, burst: 5 } });
  try {
    const lw = await makeWorld(limited);
    const cred = await limited.call('POST', '/v1/credentials', { auth: lw.enterprise, body: { api_key_auth: true } });
    assert.is(cred.status, 201, cred.text);
    for (let i = 0; i < 5; i++) {
      const res = await limited.call('GET', '/v1/agents', i % 2 === 0 ? withKey(cred.body) : { auth: cred.body });
      assert.is(res.status, 200, res.text);
    }
    const refused = await limited.call('GET', '/v1/agents', withKey(cred.body));
    assert.is(refused.status, 429, refused.text);
    assert.is(refused.body.error.code, 'rate_limited');
  } finally {
    await limited.close();
  }
});

s('api_key_auth must be a boolean (422 validation_failed)', async () => {
  const res = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { api_key_auth: 'yes' } });
  assert.is(res.status, 422, res.text);
  assert.is(res.body.error.code, 'validation_failed');
});

s.run();
