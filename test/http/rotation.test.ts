import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores, MemoryCredentialStorage } from '../../adapters/memory/index.js';
import { ManualClock } from '../../src/util/clock.js';
import {
  clientToken,
  makeWorld,
  OPERATOR_CRED,
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

const withKey = (c: TestCredential) => ({ headers: { 'x-api-key': `${c.key_id}.${c.secret}` } });
const exchange = (t: TestApp, c: TestCredential) =>
  t.call('POST', '/v1/auth/token', { body: { key_id: c.key_id, secret: c.secret } });

/** Every way a secret authenticates: a signed token, an API key, an exchange, and a session from that exchange. */
async function everyWay(t: TestApp, c: TestCredential, session: string): Promise<TestResponse[]> {
  return [
    await t.call('GET', '/v1/credentials', { auth: clientToken(c) }),
    await t.call('GET', '/v1/credentials', withKey(c)),
    await exchange(t, c),
    await t.call('GET', '/v1/credentials', { auth: session }),
  ];
}

const s = suite('credential rotation');
let t: TestApp;
let w: World;
let clock: ManualClock;

s.before(async () => {
  clock = new ManualClock(Date.now());
  // The credential store's clock is the app's here; its drafts go to the engine store's trail.
  const { store, credentials } = createMemoryStores({ now: () => clock.now() });
  t = await startTestApp({ clock, credentials }, store);
  t.store = store;
  w = await makeWorld(t);
});
s.after(() => t.close());

async function newCredential(): Promise<TestCredential> {
  const res = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { api_key_auth: true } });
  assert.is(res.status, 201, res.text);
  return res.body;
}

s('the new secret is returned once; the old one works for the grace period, then is token_revoked', async () => {
  const old = await newCredential();
  const oldSession = (await exchange(t, old)).body.access_token as string;
  // Tokens and keys verified before the rotation (and so cached) are judged like new ones.
  const oldToken = clientToken(old);
  assert.is((await t.call('GET', '/v1/credentials', { auth: oldToken })).status, 200);
  assert.is((await t.call('GET', '/v1/credentials', withKey(old))).status, 200);

  const rotated = await t.call('POST', `/v1/credentials/${old.key_id}/rotate`, {
    auth: w.enterprise,
    body: { grace_period_seconds: 3600 },
  });
  assert.is(rotated.status, 200, rotated.text);
  const fresh: TestCredential = rotated.body;
  assert.is(fresh.key_id, old.key_id);
  assert.match(fresh.secret, /^sk_live_[A-Za-z0-9_-]{43}$/);
  assert.is.not(fresh.secret, old.secret);
  assert.is(rotated.body.rotated_at, new Date(clock.now()).toISOString());
  assert.is(rotated.body.previous_secret_expires_at, new Date(clock.now() + 3_600_000).toISOString());
  // Never shown again.
  const listed = (await t.call('GET', '/v1/credentials', { auth: w.enterprise })).body.items.find(
    (c: { key_id: string }) => c.key_id === old.key_id,
  );
  assert.is(listed.secret, `sk_****${fresh.secret.slice(-4)}`);
  assert.is(listed.previous_secret_expires_at, rotated.body.previous_secret_expires_at);

  const freshSession = (await exchange(t, fresh)).body.access_token as string;
  clock.advance(3_599_000);
  for (const res of await everyWay(t, old, oldSession)) assert.is(res.status, 200, res.text);
  assert.is((await t.call('GET', '/v1/credentials', { auth: oldToken })).status, 200);
  for (const res of await everyWay(t, fresh, freshSession)) assert.is(res.status, 200, res.text);

  clock.advance(1_000);
  const [signed, keyed, exchanged, session] = await everyWay(t, old, oldSession);
  expect401(signed as TestResponse, 'token_revoked');
  expect401(keyed as TestResponse, 'token_revoked');
  expect401(exchanged as TestResponse, 'token_revoked');
  expect401(session as TestResponse, 'token_revoked');
  expect401(await t.call('GET', '/v1/credentials', { auth: oldToken }), 'token_revoked');
  for (const res of await everyWay(t, fresh, freshSession)) assert.is(res.status, 200, res.text);
});

s('grace 0 refuses the old secret at once; the default grace is 24 h', async () => {
  const old = await newCredential();
  const session = (await exchange(t, old)).body.access_token as string;
  const now = await t.call('POST', `/v1/credentials/${old.key_id}/rotate`, {
    auth: w.enterprise,
    body: { grace_period_seconds: 0 },
  });
  assert.is(now.status, 200, now.text);
  for (const res of await everyWay(t, old, session)) expect401(res, 'token_revoked');

  const other = await newCredential();
  const byDefault = await t.call('POST', `/v1/credentials/${other.key_id}/rotate`, { auth: w.enterprise });
  assert.is(byDefault.status, 200, byDefault.text);
  assert.is(byDefault.body.previous_secret_expires_at, new Date(clock.now() + 86_400_000).toISOString());
});

s('a second rotation drops the secret the first one replaced', async () => {
  const first = await newCredential();
  const second = (await t.call('POST', `/v1/credentials/${first.key_id}/rotate`, { auth: w.enterprise })).body;
  const third = (await t.call('POST', `/v1/credentials/${first.key_id}/rotate`, { auth: w.enterprise })).body;
  assert.is((await t.call('GET', '/v1/credentials', withKey(second))).status, 200);
  assert.is((await t.call('GET', '/v1/credentials', withKey(third))).status, 200);
  expect401(await t.call('GET', '/v1/credentials', withKey(first)), 'invalid_token');
  expect401(await t.call('GET', '/v1/credentials', { auth: clientToken(first) }), 'invalid_token');
});

s('who may rotate what: own org, own processor, the operator any; others 404; revoked 409', async () => {
  const otherOrg = await makeWorld(t, 'Globex');
  const mine = await newCredential();
  const cross = await t.call('POST', `/v1/credentials/${mine.key_id}/rotate`, { auth: otherOrg.enterprise });
  assert.is(cross.status, 404, cross.text);
  assert.is(cross.body.error.code, 'not_found');
  assert.is((await t.call('GET', '/v1/credentials', withKey(mine))).status, 200, 'a refused rotation changed it');
  const missing = await t.call('POST', '/v1/credentials/ek_nothere/rotate', { auth: w.enterprise });
  assert.is(missing.status, 404, missing.text);

  const byOperator = await t.call('POST', `/v1/credentials/${mine.key_id}/rotate`, { auth: OPERATOR_CRED });
  assert.is(byOperator.status, 200, byOperator.text);

  const processor = await t.call('POST', `/v1/credentials/${w.processor.key_id}/rotate`, {
    auth: w.processor,
    body: { grace_period_seconds: 60 },
  });
  assert.is(processor.status, 200, processor.text);
  const own = await t.call('POST', `/v1/credentials/${otherOrg.processor.key_id}/rotate`, { auth: w.processor });
  assert.is(own.status, 404, own.text);
  w.processor = processor.body;

  await t.call('DELETE', `/v1/credentials/${mine.key_id}`, { auth: w.enterprise });
  const revoked = await t.call('POST', `/v1/credentials/${mine.key_id}/rotate`, { auth: w.enterprise });
  assert.is(revoked.status, 409, revoked.text);
  assert.is(revoked.body.error.code, 'invalid_state');
});

s('the grace period is checked: an integer of 0 to 7 days (422 validation_failed)', async () => {
  const c = await newCredential();
  for (const body of [
    { grace_period_seconds: -1 },
    { grace_period_seconds: 604_801 },
    { grace_period_seconds: 1.5 },
    { grace_period_seconds: '60' },
    { grace: 60 },
  ]) {
    const res = await t.call('POST', `/v1/credentials/${c.key_id}/rotate`, { auth: w.enterprise, body });
    assert.is(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
    assert.is(res.body.error.code, 'validation_failed');
  }
  assert.is((await t.call('GET', '/v1/credentials', withKey(c))).status, 200, 'a refused rotation changed it');
  const max = await t.call('POST', `/v1/credentials/${c.key_id}/rotate`, {
    auth: w.enterprise,
    body: { grace_period_seconds: 604_800 },
  });
  assert.is(max.status, 200, max.text);
});

s('a rotation is in the audit trail, without any secret', async () => {
  const c = await newCredential();
  const rotated = await t.call('POST', `/v1/credentials/${c.key_id}/rotate`, {
    auth: w.enterprise,
    body: { grace_period_seconds: 120 },
  });
  await t.app.services.engine.audit.chainer.drain();
  const events = await t.store.listAuditEvents(w.orgId, { limit: 1000 });
  const event = events.find((e) => e.type === 'credential.rotated' && e.subject.id === c.key_id);
  assert.ok(event, 'no credential.rotated event');
  assert.is(event.actor, w.enterprise.key_id);
  assert.is(event.payload.grace_period_seconds, 120);
  assert.is(event.payload.previous_secret_expires_at, rotated.body.previous_secret_expires_at);
  const text = JSON.stringify(events);
  assert.not.ok(text.includes(c.secret) || text.includes(rotated.body.secret), 'a secret is in the audit trail');
});

s.run();

// Two servers on one credential store whose clocks disagree by two days: the grace period is the store's.
const servers = suite('credential rotation across servers with skewed clocks');
let a: TestApp;
let b: TestApp;
let sw: World;
let storeClock: ManualClock;
let clockA: ManualClock;
let clockB: ManualClock;

servers.before(async () => {
  const start = Date.now();
  storeClock = new ManualClock(start);
  clockA = new ManualClock(start);
  clockB = new ManualClock(start + 2 * 86_400_000);
  const credentials = new MemoryCredentialStorage({ now: () => storeClock.now() });
  const masterKey = randomBytes(32);
  a = await startTestApp({ clock: clockA, credentials, masterKey });
  b = await startTestApp({ clock: clockB, credentials, masterKey });
  sw = await makeWorld(a);
});
servers.after(async () => {
  await a?.close();
  await b?.close();
});

servers(
  'B, two days ahead, keeps the old secret for the grace the store gave it and takes the new one at once',
  async () => {
    const created = await a.call('POST', '/v1/credentials', { auth: sw.enterprise, body: { api_key_auth: true } });
    const old: TestCredential = created.body;
    // B has verified (and cached) the old secret before the rotation.
    assert.is((await b.call('GET', '/v1/credentials', withKey(old))).status, 200);
    assert.is((await b.call('GET', '/v1/credentials', { auth: clientToken(old) })).status, 200);
    const rotated = await a.call('POST', `/v1/credentials/${old.key_id}/rotate`, {
      auth: sw.enterprise,
      body: { grace_period_seconds: 600 },
    });
    assert.is(rotated.status, 200, rotated.text);
    const fresh: TestCredential = rotated.body;
    // B's cached copy is older than a second: a secret it does not know makes it read the credential again.
    clockB.advance(1_001);
    for (const t of [a, b]) {
      assert.is((await t.call('GET', '/v1/credentials', withKey(fresh))).status, 200);
      assert.is((await t.call('GET', '/v1/credentials', { auth: clientToken(fresh) })).status, 200);
      const session = (await exchange(t, fresh)).body.access_token as string;
      assert.is((await a.call('GET', '/v1/credentials', { auth: session })).status, 200);
      assert.is((await b.call('GET', '/v1/credentials', { auth: session })).status, 200);
      // B's own clock is far past previous_secret_expires_at; the store's is not.
      assert.is((await t.call('GET', '/v1/credentials', withKey(old))).status, 200);
      assert.is((await t.call('GET', '/v1/credentials', { auth: clientToken(old) })).status, 200);
    }
    // Ten minutes pass everywhere: the grace is over on both servers, however far apart their clocks are.
    for (const c of [storeClock, clockA, clockB]) c.advance(600_000);
    for (const t of [a, b]) {
      expect401(await t.call('GET', '/v1/credentials', withKey(old)), 'token_revoked');
      expect401(await t.call('GET', '/v1/credentials', { auth: clientToken(old) }), 'token_revoked');
      expect401(await exchange(t, old), 'token_revoked');
      assert.is((await t.call('GET', '/v1/credentials', withKey(fresh))).status, 200);
    }
  },
);

servers.run();
