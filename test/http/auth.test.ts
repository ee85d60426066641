import { execFileSync } from 'node:child_process';
import jwt from 'jsonwebtoken';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clientToken,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type TestResponse,
  type World,
} from '../support/http-app.js';

function expectError(res: TestResponse, status: number, code: string, reason?: string): void {
  assert.is(res.status, status, res.text);
  assert.is(res.body?.error?.code, code, res.text);
  if (reason !== undefined) assert.is(res.body.error.reason, reason, res.text);
  assert.is(res.body.error.request_id, res.headers.get('request-id'));
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

const matrix = suite('auth matrix');
let t: TestApp;
let w: World;

matrix.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
});
matrix.after(() => t.close());

matrix('missing header', async () => {
  expectError(await t.call('GET', '/v1/agents'), 401, 'unauthorized', 'missing_header');
});

matrix('not a Bearer header, or garbage', async () => {
  expectError(
    await t.call('GET', '/v1/agents', { headers: { authorization: 'Token abc' } }),
    401,
    'unauthorized',
    'invalid_token',
  );
  expectError(await t.call('GET', '/v1/agents', { auth: 'garbage' }), 401, 'unauthorized', 'invalid_token');
  expectError(await t.call('GET', '/v1/agents', { auth: 'a.b.c' }), 401, 'unauthorized', 'invalid_token');
});

matrix('alg none', async () => {
  const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ key_id: w.enterprise.key_id, iat: now(), exp: now() + 60 })}.`;
  expectError(await t.call('GET', '/v1/agents', { auth: token }), 401, 'unauthorized', 'invalid_token');
});

matrix('RS256 header with an HMAC signature is refused', async () => {
  const header = b64({ alg: 'RS256', typ: 'JWT' });
  const payload = b64({ key_id: w.enterprise.key_id, iat: now(), exp: now() + 60 });
  const { createHmac } = await import('node:crypto');
  const sig = createHmac('sha256', w.enterprise.secret).update(`${header}.${payload}`).digest('base64url');
  expectError(
    await t.call('GET', '/v1/agents', { auth: `${header}.${payload}.${sig}` }),
    401,
    'unauthorized',
    'invalid_token',
  );
});

matrix('HS256 signed with the JWKS public key as the HMAC secret', async () => {
  const jwks = (await t.call('GET', '/.well-known/jwks.json')).body;
  const x = jwks.keys[0].x as string;
  for (const secret of [x, Buffer.from(x, 'base64url')]) {
    const token = jwt.sign({ key_id: w.enterprise.key_id, iat: now(), exp: now() + 60 }, secret, {
      algorithm: 'HS256',
    });
    expectError(await t.call('GET', '/v1/agents', { auth: token }), 401, 'unauthorized', 'invalid_token');
  }
});

matrix('an EdDSA token signed by the server key (a decision proof) is no credential', async () => {
  const s = await setupSpending(w);
  const d = await t.call('POST', '/v1/authorize', { auth: w.processor, body: { ...authorize(s.reference) } });
  assert.is(d.status, 200, d.text);
  expectError(await t.call('GET', '/v1/agents', { auth: d.body.proof }), 401, 'unauthorized');
});

function authorize(reference: string) {
  return {
    authorization_id: `pa_${Math.random().toString(36).slice(2)}`,
    credential_reference: reference,
    amount: 100,
    currency: 'USD',
    merchant: { mcc: '5734', country: 'US', id: 'm1' },
  };
}

matrix('wrong secret', async () => {
  const token = clientToken({ key_id: w.enterprise.key_id, secret: `${w.enterprise.secret}x` });
  expectError(await t.call('GET', '/v1/agents', { auth: token }), 401, 'unauthorized', 'invalid_token');
});

matrix('expired, and within the clock skew', async () => {
  const expired = clientToken(w.enterprise, { iat: now() - 600, exp: now() - 120 });
  expectError(await t.call('GET', '/v1/agents', { auth: expired }), 401, 'unauthorized', 'token_expired');
  const justExpired = clientToken(w.enterprise, { iat: now() - 600, exp: now() - 10 });
  assert.is((await t.call('GET', '/v1/agents', { auth: justExpired })).status, 200);
});

matrix('iat in the future beyond the skew', async () => {
  const token = clientToken(w.enterprise, { iat: now() + 600, exp: now() + 900 });
  expectError(await t.call('GET', '/v1/agents', { auth: token }), 401, 'unauthorized', 'invalid_token');
  const slightly = clientToken(w.enterprise, { iat: now() + 30, exp: now() + 300 });
  assert.is((await t.call('GET', '/v1/agents', { auth: slightly })).status, 200);
});

matrix('lifetime over one hour', async () => {
  const token = clientToken(w.enterprise, { iat: now(), exp: now() + 3601 });
  expectError(await t.call('GET', '/v1/agents', { auth: token }), 401, 'unauthorized', 'lifetime_too_long');
  const hour = clientToken(w.enterprise, { iat: now(), exp: now() + 3600 });
  assert.is((await t.call('GET', '/v1/agents', { auth: hour })).status, 200);
});

matrix('missing claims', async () => {
  const noKey = jwt.sign({ iat: now(), exp: now() + 60 }, w.enterprise.secret, { algorithm: 'HS256' });
  expectError(await t.call('GET', '/v1/agents', { auth: noKey }), 401, 'unauthorized', 'missing_claim');
  const noExp = jwt.sign({ key_id: w.enterprise.key_id }, w.enterprise.secret, { algorithm: 'HS256' });
  expectError(await t.call('GET', '/v1/agents', { auth: noExp }), 401, 'unauthorized', 'missing_claim');
  const noIat = jwt.sign({ key_id: w.enterprise.key_id, exp: now() + 60 }, w.enterprise.secret, {
    algorithm: 'HS256',
    noTimestamp: true,
  });
  expectError(await t.call('GET', '/v1/agents', { auth: noIat }), 401, 'unauthorized', 'missing_claim');
});

matrix('unknown key', async () => {
  const token = clientToken({ key_id: 'ek_doesnotexist', secret: 'whatever' });
  expectError(await t.call('GET', '/v1/agents', { auth: token }), 401, 'unauthorized', 'unknown_key');
});

matrix('deleted credential: client and session tokens stop working', async () => {
  const created = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { name: 'rotating' } });
  assert.is(created.status, 201);
  const session = await t.call('POST', '/v1/auth/token', {
    body: { key_id: created.body.key_id, secret: created.body.secret },
  });
  assert.is(session.status, 200);
  assert.is((await t.call('GET', '/v1/agents', { auth: created.body })).status, 200);
  assert.is((await t.call('GET', '/v1/agents', { auth: session.body.access_token })).status, 200);
  const del = await t.call('DELETE', `/v1/credentials/${created.body.key_id}`, { auth: w.enterprise });
  assert.is(del.status, 200, del.text);
  assert.is(del.body.status, 'revoked');
  expectError(await t.call('GET', '/v1/agents', { auth: created.body }), 401, 'unauthorized', 'token_revoked');
  expectError(
    await t.call('GET', '/v1/agents', { auth: session.body.access_token }),
    401,
    'unauthorized',
    'token_revoked',
  );
  const exchange = await t.call('POST', '/v1/auth/token', {
    body: { key_id: created.body.key_id, secret: created.body.secret },
  });
  expectError(exchange, 401, 'unauthorized', 'invalid_credentials');
});

matrix('roles: processor on enterprise routes, enterprise on processor routes, operator-only routes', async () => {
  expectError(await t.call('GET', '/v1/agents', { auth: w.processor }), 403, 'forbidden');
  expectError(await t.call('POST', '/v1/agents', { auth: w.processor, body: { name: 'x' } }), 403, 'forbidden');
  expectError(await t.call('POST', '/v1/authorize', { auth: w.enterprise, body: {} }), 403, 'forbidden');
  expectError(await t.call('POST', '/v1/authorizations/pa_1/capture', { auth: w.enterprise }), 403, 'forbidden');
  for (const cred of [w.enterprise, w.processor]) {
    expectError(await t.call('POST', '/v1/orgs', { auth: cred, body: { name: 'x' } }), 403, 'forbidden');
    expectError(await t.call('POST', '/v1/processors', { auth: cred, body: { name: 'x' } }), 403, 'forbidden');
    expectError(await t.call('POST', `/v1/orgs/${w.orgId}/credentials`, { auth: cred }), 403, 'forbidden');
  }
  expectError(await t.call('GET', '/v1/agents', { auth: OPERATOR_CRED }), 403, 'forbidden');
});

matrix('session token and client token cannot stand in for each other', async () => {
  const session = await t.call('POST', '/v1/auth/token', {
    body: { key_id: w.enterprise.key_id, secret: w.enterprise.secret },
  });
  const claims = jwt.decode(session.body.access_token) as Record<string, unknown>;
  // A session token's claims re-signed with the client secret are a client token without key_id.
  const forged = jwt.sign(claims, w.enterprise.secret, { algorithm: 'HS256', keyid: 'allowance-session-1' });
  expectError(await t.call('GET', '/v1/agents', { auth: forged }), 401, 'unauthorized', 'invalid_token');
  // A client token sent with the session kid is checked with the server key and fails.
  const asSession = clientToken(
    w.enterprise,
    { typ: 'session', sub: w.enterprise.key_id },
    { keyid: 'allowance-session-1' },
  );
  expectError(await t.call('GET', '/v1/agents', { auth: asSession }), 401, 'unauthorized', 'invalid_token');
});

matrix('cross-org ids are 404', async () => {
  const other = await makeWorld(t, 'Globex');
  const s = await setupSpending(other);
  for (const path of [
    `/v1/agents/${s.agentId}`,
    `/v1/authorities/${s.authorityId}`,
    `/v1/authorities/${s.authorityId}/usage`,
    `/v1/bindings/${s.bindingId}`,
  ]) {
    expectError(await t.call('GET', path, { auth: w.enterprise }), 404, 'not_found');
  }
  expectError(await t.call('POST', `/v1/agents/${s.agentId}/revoke`, { auth: w.enterprise }), 404, 'not_found');
  expectError(await t.call('POST', `/v1/bindings/${s.bindingId}/suspend`, { auth: w.enterprise }), 404, 'not_found');
  expectError(
    await t.call('DELETE', `/v1/credentials/${other.enterprise.key_id}`, { auth: w.enterprise }),
    404,
    'not_found',
  );
  const list = await t.call('GET', '/v1/agents', { auth: w.enterprise });
  assert.not.ok(list.body.items.some((a: { id: string }) => a.id === s.agentId));
  // Another processor's authorization is not found for this processor.
  const d = await t.call('POST', '/v1/authorize', { auth: other.processor, body: authorize(s.reference) });
  assert.is(d.status, 200);
  expectError(
    await t.call('POST', `/v1/authorizations/${d.body.authorization_id}/capture`, { auth: w.processor }),
    404,
    'not_found',
  );
});

matrix.run();

// ---

const exchange = suite('token exchange');
let te: TestApp;
let tw: World;
exchange.before(async () => {
  te = await startTestApp();
  tw = await makeWorld(te);
});
exchange.after(() => te.close());

exchange('JSON body and HTTP Basic both return a 15-minute Bearer token', async () => {
  const viaBody = await te.call('POST', '/v1/auth/token', {
    body: { key_id: tw.enterprise.key_id, secret: tw.enterprise.secret },
  });
  assert.is(viaBody.status, 200, viaBody.text);
  assert.is(viaBody.body.token_type, 'Bearer');
  assert.is(viaBody.body.expires_in, 900);
  const basic = Buffer.from(`${tw.processor.key_id}:${tw.processor.secret}`).toString('base64');
  const viaBasic = await te.call('POST', '/v1/auth/token', { headers: { authorization: `Basic ${basic}` } });
  assert.is(viaBasic.status, 200, viaBasic.text);
  assert.is((await te.call('GET', '/v1/agents', { auth: viaBody.body.access_token })).status, 200);
  assert.is((await te.call('GET', '/v1/agents', { auth: viaBasic.body.access_token })).status, 403);
});

exchange('wrong secret, unknown key, no credentials, bad body', async () => {
  expectError(
    await te.call('POST', '/v1/auth/token', { body: { key_id: tw.enterprise.key_id, secret: 'nope' } }),
    401,
    'unauthorized',
    'invalid_credentials',
  );
  expectError(
    await te.call('POST', '/v1/auth/token', { body: { key_id: 'ek_nope', secret: 'nope' } }),
    401,
    'unauthorized',
    'invalid_credentials',
  );
  expectError(await te.call('POST', '/v1/auth/token'), 400, 'malformed_request');
  expectError(await te.call('POST', '/v1/auth/token', { body: { key_id: 'ek_x' } }), 422, 'validation_failed');
});

exchange('the operator exchanges its environment credential', async () => {
  const res = await te.call('POST', '/v1/auth/token', { body: OPERATOR_CRED });
  assert.is(res.status, 200);
  const org = await te.call('POST', '/v1/orgs', { auth: res.body.access_token, body: { name: 'Via session' } });
  assert.is(org.status, 201);
});

exchange.run();

// ---

const pyjwt = suite('PyJWT client token');

pyjwt('a token made by PyJWT exactly as documented is accepted', async () => {
  const t2 = await startTestApp();
  try {
    const world = await makeWorld(t2);
    const script = [
      'import sys, time, jwt',
      'kid, secret = sys.argv[1], sys.argv[2]',
      'now = int(time.time())',
      'print(jwt.encode({"key_id": kid, "iat": now, "exp": now+300}, secret, algorithm="HS256"))',
    ].join('\n');
    let token: string;
    try {
      token = execFileSync('python3', ['-c', script, world.enterprise.key_id, world.enterprise.secret], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim();
    } catch (err) {
      throw new Error(
        `PyJWT is required for this test (python3 -m pip install --user 'PyJWT==2.*'): ${(err as { stderr?: string }).stderr ?? err}`,
      );
    }
    const res = await t2.call('GET', '/v1/agents', { auth: token });
    assert.is(res.status, 200, res.text);
    // And as curl would send it: the pasted header value.
    const raw = await fetch(`${t2.url}/v1/agents`, { headers: { Authorization: `Bearer ${token}` } });
    assert.is(raw.status, 200);
  } finally {
    await t2.close();
  }
});

pyjwt.run();
