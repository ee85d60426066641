import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSigningKey, toJwks, verifyJws } from '../../src/crypto/index.js';
import { makeFixture } from '../support/engine-fixture.js';

const proofs = suite('decision proofs');

proofs('the proof verifies with the JWKS and carries every decision field', async () => {
  const f = await makeFixture();
  const d = await f.engine.authorize(f.processor.id, f.request());
  const jwks = f.engine.jwks();
  assert.is(jwks.keys.length, 1);
  assert.is(jwks.keys[0]?.kty, 'OKP');
  assert.is(jwks.keys[0]?.crv, 'Ed25519');
  const v = verifyJws(d.proof, jwks);
  assert.ok(v.ok);
  if (!v.ok) return;
  const { proof: _, ...fields } = d;
  assert.equal(v.payload, fields);
  assert.is(JSON.parse(Buffer.from(d.proof.split('.')[0] as string, 'base64url').toString()).kid, jwks.keys[0]?.kid);
  assert.is(v.payload.request_sha256, d.request_sha256);
  assert.match(d.request_sha256, /^[0-9a-f]{64}$/);
});

proofs('a plain approval signs exactly the decision fields, named from its evaluation', async () => {
  const f = await makeFixture();
  const req = f.request();
  const d = await f.engine.authorize(f.processor.id, req);
  assert.is(d.action, 'ALLOW');
  const { proof, ...fields } = d;
  // Every field, in the signed (ascending) order, and nothing of the evaluation beyond them.
  assert.equal(Object.keys(d), [...Object.keys(d)].sort());
  assert.equal(fields, {
    action: 'ALLOW',
    agent_id: f.agent.id,
    allowed: true,
    amount: req.amount,
    approval_expires_at: null,
    approval_id: null,
    approved_amount: req.amount,
    audit_event_id: d.audit_event_id,
    authority_id: f.authority.id,
    authorization_id: req.authorization_id,
    binding_id: f.binding.id,
    created_at: '2026-11-23T10:00:00.000Z',
    currency: req.currency,
    decision_id: d.decision_id,
    expires_at: '2026-11-30T10:00:00.000Z',
    intent_id: null,
    livemode: d.livemode,
    org_id: f.org.id,
    org_policy_revision: null,
    policy_revision: d.policy_revision,
    processor_id: f.processor.id,
    reason_codes: [],
    request_sha256: d.request_sha256,
    simulated: false,
    stand_in: false,
  });
  assert.match(d.decision_id, /^dec_/);
  assert.type(d.policy_revision, 'string');
  const v = verifyJws(proof, f.engine.jwks());
  assert.ok(v.ok && JSON.stringify(v.payload) === JSON.stringify(fields), 'the proof signs these bytes');
  const stored = await f.store.getAuthorization(f.processor.id, req.authorization_id as string);
  assert.equal(stored?.decision, d);
});

proofs('changing any byte of the signed decision breaks the proof', async () => {
  const f = await makeFixture();
  const d = await f.engine.authorize(f.processor.id, f.request());
  const jwks = f.engine.jwks();
  const [h, p, s] = d.proof.split('.') as [string, string, string];
  const payload = Buffer.from(p, 'base64url');
  for (let i = 0; i < payload.length; i++) {
    const tampered = Buffer.from(payload);
    tampered[i] = (tampered[i] as number) ^ 0x01;
    const v = verifyJws(`${h}.${tampered.toString('base64url')}.${s}`, jwks);
    assert.not.ok(v.ok, `byte ${i} changed and still verified`);
  }
  const sig = Buffer.from(s, 'base64url');
  sig[10] = (sig[10] as number) ^ 0x80;
  assert.not.ok(verifyJws(`${h}.${p}.${sig.toString('base64url')}`, jwks).ok);
  const forged = { ...JSON.parse(payload.toString()), approved_amount: 999_999 };
  assert.not.ok(verifyJws(`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`, jwks).ok);
});

proofs('a foreign key, a wrong alg or garbage do not verify', async () => {
  const f = await makeFixture();
  const d = await f.engine.authorize(f.processor.id, f.request());
  const other = toJwks([generateSigningKey()]);
  const v1 = verifyJws(d.proof, other);
  assert.is(!v1.ok && v1.reason, 'unknown_kid');
  const [, p, s] = d.proof.split('.') as [string, string, string];
  const none = Buffer.from(JSON.stringify({ alg: 'none', kid: f.engine.jwks().keys[0]?.kid })).toString('base64url');
  const v2 = verifyJws(`${none}.${p}.${s}`, f.engine.jwks());
  assert.is(!v2.ok && v2.reason, 'unsupported_alg');
  const v3 = verifyJws('not.a.jws', f.engine.jwks());
  assert.is(!v3.ok && v3.reason, 'malformed');
});

proofs('a simulation is signed as simulated and changes nothing', async () => {
  const f = await makeFixture();
  const { credential_reference, ...rest } = f.request({ amount: 2000 });
  const sim = await f.engine.simulate(f.org.id, { ...rest, credential_reference, processor_id: f.processor.id });
  assert.is(sim.action, 'ALLOW');
  assert.is(sim.simulated, true);
  assert.is(sim.expires_at, null);
  const v = verifyJws(sim.proof, f.engine.jwks());
  assert.ok(v.ok && v.payload.simulated === true);
  const usage = await f.engine.getAuthorityUsage(f.org.id, f.authority.id);
  assert.is(usage.windows.total.spent, 0);
  assert.is(usage.windows.total.count, 0);
  const page = await f.engine.listAuthorizations(f.org.id, {});
  assert.is(page.items.length, 0);
  const real = await f.engine.authorize(f.processor.id, { ...rest, credential_reference });
  assert.is(real.action, 'ALLOW', 'the simulated id is still free');
  const otherOrg = await f.engine.createOrg({ name: 'Other' });
  const foreign = await f.engine.simulate(otherOrg.id, { ...rest, credential_reference, processor_id: f.processor.id });
  assert.equal(foreign.reason_codes, ['binding_not_found']);
});

proofs.run();

// ---

const hashing = suite('request hash');

hashing('the hashed form is the RFC 8785 canonical JSON of the normalized request', async () => {
  const { canonicalJson } = await import('../../src/util/canonical-json.js');
  const { canonicalRequest, parseAuthorizeRequest } = await import('../../src/engine/authorize-request.js');
  const req = parseAuthorizeRequest({
    partial_approval_supported: true,
    merchant: { name: 'Ünïcode Störe "quoted"', country: 'US', mcc: '5734', id: 'm_1' },
    currency: 'USD',
    amount: 42,
    credential_reference: 'tok_x',
    authorization_id: 'pa_1',
    intent_id: 'int_abc',
  });
  assert.is(canonicalRequest(req), canonicalJson(req));
});

hashing.run();
