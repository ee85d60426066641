import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { MemoryCredentialStorage } from '../../adapters/memory/index.js';
import { verifyJws } from '../../src/crypto/index.js';
import { makeWorld, setupSpending, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

const s = suite('agent tokens');
let t: TestApp;
let w: World;
let agentId: string;

s.before(async () => {
  t = await startTestApp({ revocationRefreshMs: 3_600_000 });
  w = await makeWorld(t);
  agentId = (await setupSpending(w)).agentId;
});
s.after(() => t.close());

const issue = (body: Record<string, unknown> = {}) =>
  t.call('POST', '/v1/tokens', {
    auth: w.enterprise,
    body: { agent_id: agentId, scope: ['payments:create'], target_service: 'shop.example', ...body },
  });

s('issue: Ed25519 JWS with the documented claims, verifiable against the JWKS', async () => {
  const res = await issue({ intent: 'buy a laptop' });
  assert.is(res.status, 201, res.text);
  assertMatches('AgentToken', res.body);
  assert.is(res.body.exp - res.body.iat, 300);
  const jwks = (await t.call('GET', '/.well-known/jwks.json')).body;
  const v = verifyJws(res.body.token, jwks);
  assert.ok(v.ok);
  if (v.ok) {
    assert.is(v.payload.agent_id, agentId);
    assert.equal(v.payload.scope, ['payments:create']);
    assert.is(v.payload.intent, 'buy a laptop');
    assert.is(v.payload.jti, res.body.jti);
  }
  const long = await issue({ ttl_seconds: 86_400 });
  assert.is(long.status, 201);
  assert.is((await issue({ ttl_seconds: 86_401 })).status, 422);
  assert.is((await issue({ agent_id: 'agt_missing' })).status, 404);
  assert.is((await issue({ scope: [] })).status, 422);
});

s('verify and verify-batch are public; garbage, foreign JWS and bad signatures are invalid', async () => {
  const token = (await issue()).body.token as string;
  const ok = await t.call('POST', '/v1/tokens/verify', { body: { token } });
  assert.is(ok.status, 200);
  assertMatches('AgentTokenVerification', ok.body);
  assert.is(ok.body.valid, true);
  assert.is(ok.body.claims.agent_id, agentId);
  // The first character of the signature carries six whole bits: changing it always changes the signed bytes.
  const sigAt = token.lastIndexOf('.') + 1;
  const tampered = `${token.slice(0, sigAt)}${token[sigAt] === 'A' ? 'B' : 'A'}${token.slice(sigAt + 1)}`;
  const bad = await t.call('POST', '/v1/tokens/verify', { body: { token: tampered } });
  assert.is(bad.body.valid, false);
  const garbage = await t.call('POST', '/v1/tokens/verify', { body: { token: 'x.y.z' } });
  assert.is(garbage.body.reason, 'malformed');
  const s2 = await setupSpending(w);
  const intent = await t.call('POST', '/v1/intents', {
    auth: w.enterprise,
    body: {
      agent_id: s2.agentId,
      description: 'x',
      max_amount: 10,
      currency: 'USD',
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    },
  });
  const mandate = await t.call('POST', '/v1/tokens/verify', { body: { token: intent.body.mandate } });
  assert.is(mandate.body.reason, 'not_agent_token');
  const batch = await t.call('POST', '/v1/tokens/verify-batch', { body: { tokens: [token, tampered, 'nope'] } });
  assert.is(batch.status, 200);
  assertMatches('AgentTokenBatchVerification', batch.body);
  assert.equal(
    batch.body.results.map((r: { valid: boolean }) => r.valid),
    [true, false, false],
  );
  const tooMany = await t.call('POST', '/v1/tokens/verify-batch', { body: { tokens: Array(101).fill(token) } });
  assert.is(tooMany.status, 422);
});

s('revoke one token by value and by jti; revoke every token of an agent', async () => {
  const a = (await issue()).body;
  const b = (await issue()).body;
  const c = (await issue()).body;
  const r1 = await t.call('POST', '/v1/tokens/revoke', { auth: w.enterprise, body: { token: a.token } });
  assert.is(r1.status, 200, r1.text);
  assertMatches('AgentTokenRevocation', r1.body);
  assert.is((await t.call('POST', '/v1/tokens/verify', { body: { token: a.token } })).body.reason, 'revoked');
  const r2 = await t.call('POST', '/v1/tokens/revoke', { auth: w.enterprise, body: { jti: b.jti, agent_id: agentId } });
  assert.is(r2.status, 200);
  assert.is((await t.call('POST', '/v1/tokens/verify', { body: { token: b.token } })).body.reason, 'revoked');
  assert.is((await t.call('POST', '/v1/tokens/verify', { body: { token: c.token } })).body.valid, true);
  const other = await makeWorld(t, 'Other');
  const foreign = await t.call('POST', '/v1/tokens/revoke', { auth: other.enterprise, body: { token: c.token } });
  assert.is(foreign.status, 404);
  assert.is((await t.call('POST', '/v1/tokens/revoke', { auth: w.enterprise, body: {} })).status, 422);
});

s('revoking the agent kills its tokens and forbids new ones', async () => {
  const s2 = await setupSpending(w);
  const tok = await t.call('POST', '/v1/tokens', {
    auth: w.enterprise,
    body: { agent_id: s2.agentId, scope: ['a'], target_service: 'svc' },
  });
  assert.is(tok.status, 201);
  await t.call('POST', `/v1/agents/${s2.agentId}/revoke`, { auth: w.enterprise });
  assert.is(
    (await t.call('POST', '/v1/tokens/verify', { body: { token: tok.body.token } })).body.reason,
    'agent_revoked',
  );
  const again = await t.call('POST', '/v1/tokens', {
    auth: w.enterprise,
    body: { agent_id: s2.agentId, scope: ['a'], target_service: 'svc' },
  });
  assert.is(again.status, 409);
});

s('a revocation recorded by another server is picked up by the refresh', async () => {
  const tok = (await issue()).body;
  const storage = t.credentials as MemoryCredentialStorage;
  await storage.insertRevokedToken({
    jti: tok.jti,
    agent_id: agentId,
    org_id: w.orgId,
    exp: new Date((tok.exp as number) * 1000).toISOString(),
    revoked_at: new Date().toISOString(),
  });
  // Until this server reads it, the revocation made elsewhere is unknown here; one refresh (the run the
  // periodic timer does) picks it up.
  assert.is((await t.call('POST', '/v1/tokens/verify', { body: { token: tok.token } })).body.valid, true);
  await t.app.services.agentTokens.refresh();
  assert.is((await t.call('POST', '/v1/tokens/verify', { body: { token: tok.token } })).body.reason, 'revoked');
});

s.run();
