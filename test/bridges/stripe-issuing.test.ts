import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryBridgeStorage } from '../../adapters/memory/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { faultyStore } from '../support/faulty-store.js';
import { FreezableBridges } from '../support/freezable-bridges.js';
import { makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';
import { issuingAuthorization, postStripe, stripeEvent, stripeSecret } from '../support/stripe-events.js';

/** An agent, an authority and a binding of type card whose reference is a Stripe card id. */
async function cardOf(
  w: World,
  authority: Record<string, unknown> = { limits: { per_transaction: 50_000, daily: 100_000 } },
): Promise<{ cardId: string; authorityId: string }> {
  const { t, enterprise } = w;
  const agent = await t.call('POST', '/v1/agents', { auth: enterprise, body: { name: 'buyer' } });
  const sa = await t.call('POST', '/v1/authorities', {
    auth: enterprise,
    body: { agent_id: agent.body.id, currency: 'USD', ...authority },
  });
  const cardId = `ic_${randomBytes(10).toString('hex')}`;
  const binding = await t.call('POST', '/v1/bindings', {
    auth: enterprise,
    body: {
      agent_id: agent.body.id,
      authority_id: sa.body.id,
      processor_id: w.processorId,
      credential: { type: 'card', reference: cardId, last4: '4242' },
    },
  });
  if (binding.status !== 201) throw new Error(`card setup failed: ${sa.text} ${binding.text}`);
  return { cardId, authorityId: sa.body.id };
}

async function connect(w: World, secret: string) {
  return w.t.call('POST', '/v1/bridges/stripe-issuing', {
    auth: w.enterprise,
    body: { processor_id: w.processorId, signing_secret: secret },
  });
}

async function spent(w: World, authorityId: string): Promise<number> {
  const usage = await w.t.call('GET', `/v1/authorities/${authorityId}/usage`, { auth: w.enterprise });
  return usage.body.windows.daily.spent;
}

async function record(w: World, authorizationId: string) {
  return w.t.call('GET', `/v1/authorizations/${authorizationId}`, { auth: w.processor });
}

const request = (auth: Record<string, unknown>) => stripeEvent('issuing_authorization.request', auth);

const bridge = suite('Stripe Issuing bridge');
let t: TestApp;
let w: World;
let secret: string;

bridge.before(async () => {
  t = await startTestApp({ bridges: new MemoryBridgeStorage() });
  w = await makeWorld(t);
  secret = stripeSecret();
  const res = await connect(w, secret);
  assert.is(res.status, 201, res.text);
});
bridge.after(async () => {
  await t.close();
});

bridge('registration: shown without the secret, once per org, validated, processor must exist', async () => {
  const got = await t.call('GET', '/v1/bridges/stripe-issuing', { auth: w.enterprise });
  assert.is(got.status, 200, got.text);
  assertMatches('Bridge', got.body);
  assert.is(got.body.processor_id, w.processorId);
  assert.is(got.body.webhook_path, `/v1/bridges/stripe-issuing/${w.orgId}`);
  assert.is(got.body.secrets.length, 1);
  assert.is(got.body.secrets[0].last4, secret.slice(-4));
  assert.not.ok(got.text.includes(secret), 'the secret is never shown');
  const twice = await connect(w, stripeSecret());
  assert.is(twice.status, 409);
  assert.is(twice.body.error.code, 'conflict');
  const other = await makeWorld(t, 'Other');
  const bad = await t.call('POST', '/v1/bridges/stripe-issuing', {
    auth: other.enterprise,
    body: { processor_id: other.processorId, signing_secret: 'not-a-secret' },
  });
  assert.is(bad.status, 422);
  assert.is(bad.body.error.code, 'validation_failed');
  const unknownProcessor = await t.call('POST', '/v1/bridges/stripe-issuing', {
    auth: other.enterprise,
    body: { processor_id: 'prc_00000000000000000000', signing_secret: stripeSecret() },
  });
  assert.is(unknownProcessor.status, 422);
  assert.is(unknownProcessor.body.error.code, 'validation_failed');
  const processorCalls = await t.call('GET', '/v1/bridges/stripe-issuing', { auth: w.processor });
  assert.is(processorCalls.status, 403);
  assert.is(processorCalls.body.error.code, 'forbidden');
});

bridge('approve: ALLOW is approved: true with the decision in metadata and the Stripe-Version header', async () => {
  const { cardId, authorityId } = await cardOf(w);
  const auth = issuingAuthorization(cardId, { amount: 1850 });
  const res = await postStripe(t, w.orgId, request(auth), secret);
  assert.is(res.status, 200, res.text);
  assertMatches('StripeIssuingAnswer', res.body);
  assert.is(res.body.approved, true);
  assert.is(res.body.amount, undefined);
  assert.is(res.headers.get('stripe-version'), '2025-01-27.acacia');
  assert.is(res.body.metadata.allowance_action, 'ALLOW');
  assert.match(res.body.metadata.allowance_decision_id, /^dec_/);
  assert.match(res.body.metadata.allowance_proof_sha256, /^[0-9a-f]{64}$/);
  for (const [k, v] of Object.entries(res.body.metadata as Record<string, string>)) {
    assert.ok(k.length <= 40 && v.length <= 500, `metadata ${k} within Stripe's limits`);
  }
  const rec = await record(w, auth.id as string);
  assert.is(rec.status, 200, rec.text);
  assert.is(rec.body.status, 'approved');
  assert.is(rec.body.decision_id, res.body.metadata.allowance_decision_id);
  assert.is(rec.body.currency, 'USD');
  assert.is(await spent(w, authorityId), 1850);
});

bridge('decline with reasons: DENY is approved: false with the reason codes in metadata', async () => {
  const { cardId, authorityId } = await cardOf(w);
  const auth = issuingAuthorization(cardId, { amount: 60_000 });
  const res = await postStripe(t, w.orgId, request(auth), secret);
  assert.is(res.status, 200, res.text);
  assert.is(res.body.approved, false);
  assert.is(res.body.metadata.allowance_action, 'DENY');
  const rec = await record(w, auth.id as string);
  assert.ok(rec.body.reason_codes.length > 0);
  assert.is(res.body.metadata.allowance_reasons, rec.body.reason_codes.join(','));
  assert.is(await spent(w, authorityId), 0);
});

bridge('partial amount: approved with amount when controllable; declined, nothing held, when not', async () => {
  const partial = { limits: { daily: 5_000 }, partial_approval: true };
  const { cardId, authorityId } = await cardOf(w, partial);
  const controllable = issuingAuthorization(cardId, { amount: 8_000, controllable: true });
  const res = await postStripe(t, w.orgId, request(controllable), secret);
  assert.is(res.status, 200, res.text);
  assert.is(res.body.approved, true, res.text);
  assert.is(res.body.amount, 5_000);
  assert.is(res.body.metadata.allowance_action, 'ALLOW_WITH_LIMITS');
  assert.is(await spent(w, authorityId), 5_000);

  const second = await cardOf(w, partial);
  const fixed = issuingAuthorization(second.cardId, { amount: 8_000, controllable: false });
  const no = await postStripe(t, w.orgId, request(fixed), secret);
  assert.is(no.status, 200, no.text);
  assert.is(no.body.approved, false);
  assert.is(no.body.amount, undefined);
  await t.app.services.bridges.settled();
  assert.is(await spent(w, second.authorityId), 0, 'nothing held for a declined answer');
});

bridge('a replayed event gets the same decision', async () => {
  const { cardId, authorityId } = await cardOf(w);
  const event = request(issuingAuthorization(cardId, { amount: 1200 }));
  const first = await postStripe(t, w.orgId, event, secret);
  const again = await postStripe(t, w.orgId, event, secret);
  assert.is(again.status, 200, again.text);
  assert.equal(again.body, first.body);
  assert.is(await spent(w, authorityId), 1200, 'held once');
});

bridge('bad or stale signature, unknown org: 401 bridge_signature_invalid and nothing decided', async () => {
  const { cardId } = await cardOf(w);
  const cases: [string, () => Promise<{ status: number; body: { error: { code: string } } }>, string][] = [];
  const a1 = issuingAuthorization(cardId);
  cases.push(['wrong secret', () => postStripe(t, w.orgId, request(a1), stripeSecret()), a1.id as string]);
  const a2 = issuingAuthorization(cardId);
  const stale = Math.floor(Date.now() / 1000) - 600;
  cases.push(['stale timestamp', () => postStripe(t, w.orgId, request(a2), secret, stale), a2.id as string]);
  const a3 = issuingAuthorization(cardId);
  cases.push(['unknown org', () => postStripe(t, 'org_00000000000000000000', request(a3), secret), a3.id as string]);
  const a4 = issuingAuthorization(cardId);
  cases.push([
    'no header',
    () =>
      t.call('POST', `/v1/bridges/stripe-issuing/${w.orgId}`, {
        raw: JSON.stringify(request(a4)),
        headers: { 'content-type': 'application/json' },
      }),
    a4.id as string,
  ]);
  const a5 = issuingAuthorization(cardId);
  const signedOther = request(a5);
  cases.push([
    'body changed after signing',
    async () => {
      const { default: Stripe } = await import('stripe');
      const header = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(signedOther), secret });
      const tampered = JSON.stringify({ ...signedOther, id: 'evt_other' });
      return t.call('POST', `/v1/bridges/stripe-issuing/${w.orgId}`, {
        raw: tampered,
        headers: { 'content-type': 'application/json', 'stripe-signature': header },
      });
    },
    a5.id as string,
  ]);
  for (const [name, send, authorizationId] of cases) {
    const res = await send();
    assert.is(res.status, 401, name);
    assert.is(res.body.error.code, 'bridge_signature_invalid', name);
    assert.is((await record(w, authorizationId)).status, 404, `${name}: nothing decided`);
  }
});

bridge('an unknown card is declined; a card bound in another org is declined without its data', async () => {
  const unknown = await postStripe(t, w.orgId, request(issuingAuthorization('ic_unknown0000')), secret);
  assert.is(unknown.status, 200, unknown.text);
  assert.is(unknown.body.approved, false);
  assert.is(unknown.body.metadata.allowance_reasons, 'binding_not_found');

  // Another org's card on the same Allowance processor: decided for that org by the engine, but this org's
  // Stripe account learns nothing about it and the hold is given back.
  const other = await makeWorld(t, 'Other org');
  const foreign: World = { ...other, processorId: w.processorId, processor: w.processor };
  const { cardId, authorityId } = await cardOf(foreign);
  const auth = issuingAuthorization(cardId, { amount: 1000 });
  const res = await postStripe(t, w.orgId, request(auth), secret);
  assert.is(res.status, 200, res.text);
  assert.equal(res.body, {
    approved: false,
    metadata: { allowance_action: 'DENY', allowance_reasons: 'binding_not_found' },
  });
  assert.not.ok(res.text.includes(other.orgId));
  await t.app.services.bridges.settled();
  assert.is(await spent(foreign, authorityId), 0, "the other org's budget is untouched");
});

bridge('capture and reversal events move the ledger, idempotently', async () => {
  const { cardId, authorityId } = await cardOf(w);
  const captured = issuingAuthorization(cardId, { amount: 2000 });
  assert.is((await postStripe(t, w.orgId, request(captured), secret)).body.approved, true);
  const reversed = issuingAuthorization(cardId, { amount: 3000 });
  assert.is((await postStripe(t, w.orgId, request(reversed), secret)).body.approved, true);
  const declinedByStripe = issuingAuthorization(cardId, { amount: 500 });
  assert.is((await postStripe(t, w.orgId, request(declinedByStripe), secret)).body.approved, true);
  assert.is(await spent(w, authorityId), 5500);

  const tx = stripeEvent('issuing_transaction.created', {
    id: `ipi_${randomBytes(8).toString('hex')}`,
    object: 'issuing.transaction',
    type: 'capture',
    amount: -1500,
    currency: 'usd',
    authorization: captured.id,
    card: cardId,
  });
  const cap = await postStripe(t, w.orgId, tx, secret);
  assert.is(cap.status, 200, cap.text);
  assert.equal(cap.body, { received: true, outcome: 'captured' });
  const capAgain = await postStripe(t, w.orgId, tx, secret);
  assert.equal(capAgain.body, { received: true, outcome: 'captured' }, 'a replayed capture changes nothing');
  const capRec = await record(w, captured.id as string);
  assert.is(capRec.body.status, 'captured');
  assert.is(capRec.body.captured_amount, 1500);
  assert.is(await spent(w, authorityId), 5000, 'the rest of the capture hold is released');

  const rev = stripeEvent('issuing_authorization.updated', {
    ...reversed,
    approved: true,
    status: 'reversed',
    amount: 0,
  });
  assert.equal((await postStripe(t, w.orgId, rev, secret)).body, { received: true, outcome: 'reversed' });
  assert.equal((await postStripe(t, w.orgId, rev, secret)).body, { received: true, outcome: 'reversed' });
  assert.is((await record(w, reversed.id as string)).body.status, 'reversed');
  assert.is(await spent(w, authorityId), 2000);

  const created = stripeEvent('issuing_authorization.created', {
    ...declinedByStripe,
    approved: false,
    status: 'closed',
  });
  assert.equal((await postStripe(t, w.orgId, created, secret)).body, { received: true, outcome: 'reversed' });
  assert.is(await spent(w, authorityId), 1500);

  const pendingUpdate = stripeEvent('issuing_authorization.updated', {
    ...captured,
    approved: true,
    status: 'pending',
  });
  assert.equal((await postStripe(t, w.orgId, pendingUpdate, secret)).body, { received: true, outcome: 'ignored' });
  const unknown = stripeEvent('issuing_authorization.updated', {
    ...issuingAuthorization(cardId),
    approved: true,
    status: 'reversed',
  });
  assert.equal((await postStripe(t, w.orgId, unknown, secret)).body, {
    received: true,
    outcome: 'unknown_authorization',
  });
  const other = stripeEvent('issuing_card.created', { id: cardId, object: 'issuing.card' });
  assert.equal((await postStripe(t, w.orgId, other, secret)).body, { received: true, outcome: 'ignored' });
  const reverseCaptured = stripeEvent('issuing_authorization.updated', {
    ...captured,
    approved: true,
    status: 'reversed',
  });
  assert.equal((await postStripe(t, w.orgId, reverseCaptured, secret)).body, { received: true, outcome: 'ignored' });
  assert.is(await spent(w, authorityId), 1500);
});

/** An `issuing_transaction.created` of `type` for `amount` (Stripe signs captures negative, refunds positive). */
function transaction(authorizationId: string | null, cardId: string, type: string, amount: number) {
  return stripeEvent('issuing_transaction.created', {
    id: `ipi_${randomBytes(8).toString('hex')}`,
    object: 'issuing.transaction',
    type,
    amount: type === 'capture' ? -amount : amount,
    currency: 'usd',
    authorization: authorizationId,
    card: cardId,
  });
}

bridge('several captures of one authorization and refunds: the ledger follows what settled, once each', async () => {
  const { cardId, authorityId } = await cardOf(w);
  const auth = issuingAuthorization(cardId, { amount: 5000 });
  assert.is((await postStripe(t, w.orgId, request(auth), secret)).body.approved, true);
  assert.is(await spent(w, authorityId), 5000);
  const id = auth.id as string;

  // The first capture closes the authorization (as Stripe does): 2000 spent, the other 3000 released.
  const first = transaction(id, cardId, 'capture', 2000);
  assert.equal((await postStripe(t, w.orgId, first, secret)).body, { received: true, outcome: 'captured' });
  assert.is(await spent(w, authorityId), 2000);
  // A later capture of the same authorization (multi-capture) is spend of its own, once.
  const second = transaction(id, cardId, 'capture', 1200);
  assert.equal((await postStripe(t, w.orgId, second, secret)).body, { received: true, outcome: 'captured' });
  assert.equal((await postStripe(t, w.orgId, second, secret)).body, { received: true, outcome: 'captured' });
  assert.equal((await postStripe(t, w.orgId, first, secret)).body, { received: true, outcome: 'captured' });
  assert.is(await spent(w, authorityId), 3200, 'each capture counted once');
  let rec = (await record(w, id)).body;
  assertMatches('Authorization', rec);
  assert.equal([rec.status, rec.captured_amount, rec.refunded_amount], ['captured', 3200, 0]);
  // Stripe's closing update after the captures changes nothing.
  const closed = stripeEvent('issuing_authorization.updated', { ...auth, approved: true, status: 'closed' });
  assert.equal((await postStripe(t, w.orgId, closed, secret)).body, { received: true, outcome: 'ignored' });
  assert.is(await spent(w, authorityId), 3200);

  // Refunds give budget back, once each, never more than was captured.
  const refund = transaction(id, cardId, 'refund', 700);
  assert.equal((await postStripe(t, w.orgId, refund, secret)).body, { received: true, outcome: 'refunded' });
  assert.equal((await postStripe(t, w.orgId, refund, secret)).body, { received: true, outcome: 'refunded' });
  assert.is(await spent(w, authorityId), 2500);
  const tooMuch = transaction(id, cardId, 'refund', 90_000);
  assert.equal((await postStripe(t, w.orgId, tooMuch, secret)).body, { received: true, outcome: 'refunded' });
  assert.is(await spent(w, authorityId), 0);
  rec = (await record(w, id)).body;
  assert.equal([rec.captured_amount, rec.refunded_amount], [3200, 3200]);
  const nothingLeft = transaction(id, cardId, 'refund', 100);
  assert.equal((await postStripe(t, w.orgId, nothingLeft, secret)).body, { received: true, outcome: 'ignored' });
  // A refund Stripe links to no authorization cannot be placed.
  const unlinked = transaction(null, cardId, 'refund', 100);
  assert.equal((await postStripe(t, w.orgId, unlinked, secret)).body, { received: true, outcome: 'ignored' });

  // Every settlement is in the org's audit trail, with what it moved in the usage windows.
  await t.app.services.engine.audit.chainer.drain();
  const trail = await t.store.listAuditEvents(w.orgId, { subject_id: `${w.processorId}/${id}`, limit: 50 });
  assert.equal(
    trail.map((e) => [e.type, e.payload.usage_adjustment ?? null]),
    [
      ['authorization.approved', null],
      ['authorization.partially_captured', 0],
      ['authorization.captured', null],
      ['authorization.partially_captured', 1200],
      ['authorization.refunded', -700],
      ['authorization.refunded', -2500],
    ],
  );
});

bridge('a close that arrives before its capture: reversed, then captured when the capture comes', async () => {
  const { cardId, authorityId } = await cardOf(w);
  const auth = issuingAuthorization(cardId, { amount: 1000 });
  assert.is((await postStripe(t, w.orgId, request(auth), secret)).body.approved, true);
  const closed = stripeEvent('issuing_authorization.updated', { ...auth, approved: true, status: 'closed' });
  assert.equal((await postStripe(t, w.orgId, closed, secret)).body, { received: true, outcome: 'reversed' });
  assert.is(await spent(w, authorityId), 0);
  const capture = transaction(auth.id as string, cardId, 'capture', 900);
  assert.equal((await postStripe(t, w.orgId, capture, secret)).body, { received: true, outcome: 'captured' });
  assert.equal((await postStripe(t, w.orgId, capture, secret)).body, { received: true, outcome: 'captured' });
  assert.is(await spent(w, authorityId), 900);
  const rec = (await record(w, auth.id as string)).body;
  assert.equal([rec.status, rec.captured_amount], ['captured', 900]);
});

bridge('a signed event of the wrong shape is 422 validation_failed, nothing decided', async () => {
  const bad = stripeEvent('issuing_authorization.request', { id: 'iauth_shape', object: 'issuing.authorization' });
  const res = await postStripe(t, w.orgId, bad, secret);
  assert.is(res.status, 422, res.text);
  assert.is(res.body.error.code, 'validation_failed');
  assert.is((await record(w, 'iauth_shape')).status, 404);
});

bridge.run();

const rotation = suite('Stripe Issuing bridge: secret rotation and deletion');

rotation('the previous secret verifies during its grace period only; a deleted bridge refuses', async () => {
  const clock = new ManualClock(Date.now());
  const app = await startTestApp({ bridges: new MemoryBridgeStorage(), clock });
  try {
    const world = await makeWorld(app);
    const { cardId } = await cardOf(world);
    const oldSecret = stripeSecret();
    assert.is((await connect(world, oldSecret)).status, 201);
    const newSecret = stripeSecret();
    const rotated = await app.call('PUT', '/v1/bridges/stripe-issuing/secret', {
      auth: world.enterprise,
      body: { signing_secret: newSecret, grace_seconds: 3600 },
    });
    assert.is(rotated.status, 200, rotated.text);
    assertMatches('Bridge', rotated.body);
    assert.is(rotated.body.secrets.length, 2);
    assert.is(rotated.body.secrets[0].expires_at, null);
    assert.is(rotated.body.secrets[1].last4, oldSecret.slice(-4));
    assert.not.ok(rotated.text.includes(newSecret));
    const nowS = () => Math.floor(clock.now() / 1000);
    for (const s of [newSecret, oldSecret]) {
      const res = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), s, nowS());
      assert.is(res.status, 200, res.text);
    }
    clock.advance(3601_000);
    const late = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), oldSecret, nowS());
    assert.is(late.status, 401);
    assert.is(late.body.error.code, 'bridge_signature_invalid');
    const current = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), newSecret, nowS());
    assert.is(current.status, 200, current.text);
    clock.set(Date.now());
    const gone = await app.call('DELETE', '/v1/bridges/stripe-issuing', { auth: world.enterprise });
    assert.is(gone.status, 204, gone.text);
    const refused = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), newSecret, nowS());
    assert.is(refused.status, 401);
    assert.is(refused.body.error.code, 'bridge_signature_invalid');
    const again = await app.call('DELETE', '/v1/bridges/stripe-issuing', { auth: world.enterprise });
    assert.is(again.status, 404);
    assert.is(again.body.error.code, 'not_found');
  } finally {
    await app.close();
  }
});

rotation('the timestamp is judged on the injected clock, in the past and in the future', async () => {
  // A server clock a day ahead of the wall clock: what is fresh or stale is decided by it alone.
  const clock = new ManualClock(Date.now() + 86_400_000);
  const app = await startTestApp({ bridges: new MemoryBridgeStorage(), clock });
  try {
    const world = await makeWorld(app);
    const { cardId } = await cardOf(world);
    const s = stripeSecret();
    assert.is((await connect(world, s)).status, 201);
    const nowS = Math.floor(clock.now() / 1000);
    const cases: [string, number, number][] = [
      ['at the injected now', nowS, 200],
      ['just within the tolerance ahead', nowS + 299, 200],
      ['just within the tolerance behind', nowS - 299, 200],
      ['more than the tolerance ahead', nowS + 301, 401],
      ['a day ahead', nowS + 86_400, 401],
      ['more than the tolerance behind', nowS - 301, 401],
      ['the wall clock, a day behind the server', Math.floor(Date.now() / 1000), 401],
    ];
    for (const [name, at, status] of cases) {
      const auth = issuingAuthorization(cardId, { amount: 100 });
      const res = await postStripe(app, world.orgId, request(auth), s, at);
      assert.is(res.status, status, `${name}: ${res.text}`);
      const rec = await app.call('GET', `/v1/authorizations/${auth.id}`, { auth: world.processor });
      if (status === 401) {
        assert.is(res.body.error.code, 'bridge_signature_invalid', name);
        assert.is(rec.status, 404, `${name}: nothing decided`);
      } else {
        assert.is(res.body.approved, true, name);
        assert.is(rec.status, 200, name);
      }
    }
  } finally {
    await app.close();
  }
});

rotation('calls naming orgs without a bridge spend the address budget of store reads that find nothing', async () => {
  const app = await startTestApp({
    bridges: new MemoryBridgeStorage(),
    unknownKeyRateLimit: { perSecond: 0.001, burst: 3 },
  });
  try {
    const world = await makeWorld(app);
    const s = stripeSecret();
    assert.is((await connect(world, s)).status, 201);
    const { cardId } = await cardOf(world);
    const warm = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), s);
    assert.is(warm.status, 200, warm.text);
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await postStripe(app, `org_${i}0000000000000000000`, request(issuingAuthorization(cardId)), s);
      codes.push(res.body.error.code);
    }
    assert.equal(codes, [
      'bridge_signature_invalid',
      'bridge_signature_invalid',
      'bridge_signature_invalid',
      'rate_limited',
      'rate_limited',
    ]);
    const known = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), s);
    assert.is(known.status, 200, 'a bridge this server holds is not affected');
    assert.is(known.body.approved, true);
  } finally {
    await app.close();
  }
});

rotation('without bridge storage the registration routes answer 503 storage_unavailable', async () => {
  const app = await startTestApp();
  try {
    const world = await makeWorld(app);
    const res = await connect(world, stripeSecret());
    assert.is(res.status, 503);
    assert.is(res.body.error.code, 'storage_unavailable');
  } finally {
    await app.close();
  }
});

rotation.run();

const frozen = suite('Stripe Issuing bridge: a frozen store');

frozen('the bridge answers with the stand-in decision when every store call hangs', async () => {
  const faulty = faultyStore();
  const spoolDir = await mkdtemp(join(tmpdir(), 'allowance-spool-'));
  const bridges = new FreezableBridges();
  const clock = new ManualClock(Date.now());
  const app = await startTestApp(
    { bridges, clock, engineConfig: { authorizeDeadlineMs: 1500, standInSpoolDir: spoolDir } },
    faulty.store,
  );
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  try {
    const world = await makeWorld(app);
    const { cardId } = await cardOf(world, {
      limits: { per_transaction: 50_000 },
      stand_in: { action: 'ALLOW_UP_TO', max_amount: 2500 },
    });
    const s = stripeSecret();
    assert.is((await connect(world, s)).status, 201);
    const warm = await postStripe(app, world.orgId, request(issuingAuthorization(cardId)), s);
    assert.is(warm.status, 200, warm.text);
    assert.is(warm.body.approved, true);
    assert.is(warm.body.metadata.allowance_stand_in, undefined);

    // Everything hangs: the engine's store and the bridge storage (its cached copy is past its freshness).
    for (const m of ['getProcessor', 'findBinding', 'claimAuthorization', 'getAuthorization'] as const) {
      faulty.wrap(m, async (original, ...args) => {
        await gate;
        return original(...args);
      });
    }
    bridges.frozen = gate;
    clock.advance(6_000);
    const res = await postStripe(
      app,
      world.orgId,
      request(issuingAuthorization(cardId, { amount: 2000 })),
      s,
      Math.floor(clock.now() / 1000),
    );
    assert.is(res.status, 200, res.text);
    assert.is(res.body.approved, true);
    assert.is(res.body.metadata.allowance_stand_in, 'true');
    assert.is(res.body.metadata.allowance_reasons, 'stand_in_store_unavailable');
  } finally {
    release();
    await app.close();
  }
});

frozen.run();
