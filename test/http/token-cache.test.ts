import jwt from 'jsonwebtoken';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../src/util/clock.js';
import { clientToken, makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';

// koa-jwt calls jsonwebtoken's verify through this same module object: counting its calls counts the
// signature checks the server runs.
const original = jwt.verify;
let verifications = 0;
const counting = ((...args: Parameters<typeof jwt.verify>) => {
  verifications++;
  return (original as (...a: unknown[]) => unknown)(...args);
}) as typeof jwt.verify;

const s = suite('verified-token cache');
let t: TestApp;
let w: World;
let clock: ManualClock;

s.before(async () => {
  clock = new ManualClock(Date.now());
  t = await startTestApp({ clock });
  w = await makeWorld(t);
  (jwt as { verify: typeof jwt.verify }).verify = counting;
});
s.after(async () => {
  (jwt as { verify: typeof jwt.verify }).verify = original;
  await t.close();
});

s('a token used again is not verified again', async () => {
  const token = clientToken(w.enterprise);
  const before = verifications;
  for (let i = 0; i < 3; i++) {
    const res = await t.call('GET', '/v1/agents', { auth: token });
    assert.is(res.status, 200, res.text);
  }
  assert.is(verifications - before, 1);
  // Another token string is verified on its own.
  const other = clientToken(w.enterprise, { exp: Math.floor(clock.now() / 1000) + 200 });
  assert.is((await t.call('GET', '/v1/agents', { auth: other })).status, 200);
  assert.is(verifications - before, 2);
});

s('a bad signature is never served from the cache', async () => {
  const token = clientToken(w.enterprise);
  assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 200);
  const [h, p, sig] = token.split('.') as [string, string, string];
  // The first character of a signature carries six whole bits: changing it always changes the signed bytes.
  const tampered = `${h}.${p}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
  const res = await t.call('GET', '/v1/agents', { auth: tampered });
  assert.is(res.status, 401);
  assert.is(res.body.error.reason, 'invalid_token');
});

s('a cached token of a revoked credential is refused', async () => {
  const created = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { name: 'short-lived' } });
  assert.is(created.status, 201, created.text);
  const cred = { key_id: created.body.key_id as string, secret: created.body.secret as string };
  const token = clientToken(cred);
  assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 200);
  assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 200);
  const del = await t.call('DELETE', `/v1/credentials/${cred.key_id}`, { auth: w.enterprise });
  assert.ok(del.status < 300, del.text);
  const res = await t.call('GET', '/v1/agents', { auth: token });
  assert.is(res.status, 401);
  assert.is(res.body.error.reason, 'token_revoked');
});

s('an entry is not used once the token expires by the injected clock', async () => {
  const token = clientToken(w.enterprise, { exp: Math.floor(clock.now() / 1000) + 120 });
  assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 200);
  const before = verifications;
  assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 200);
  assert.is(verifications, before);
  clock.advance(121_000);
  // Past exp on the server's clock the cache no longer answers: the token is verified again (jsonwebtoken
  // judges exp by the wall clock, which is still before it, and the skew).
  assert.is((await t.call('GET', '/v1/agents', { auth: token })).status, 200);
  assert.is(verifications, before + 1);
});

s.run();
