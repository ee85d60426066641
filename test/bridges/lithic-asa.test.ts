import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Lithic from 'lithic';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryBridgeStorage } from '../../adapters/memory/index.js';
import { lithicAnswer, lithicMerchantCountry, verifyLithicSignature } from '../../src/bridges/index.js';
import type { Decision } from '../../src/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { faultyStore } from '../support/faulty-store.js';
import { FreezableBridges } from '../support/freezable-bridges.js';
import { makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';
import {
  asaRequest,
  lithicSecret,
  lithicSignatureByHand,
  postLithic,
  postLithicEvent,
  postLithicRaw,
  transactionEvent,
  transactionStep,
} from '../support/lithic-asa.js';
import { assertMatches } from '../support/response-schemas.js';
import { stripeSecret } from '../support/stripe-events.js';

/** An agent, an authority and a binding of type card whose reference is a Lithic card token. */
async function cardOf(
  w: World,
  authority: Record<string, unknown> = { limits: { per_transaction: 50_000, daily: 100_000 } },
): Promise<{ cardToken: string; authorityId: string }> {
  const { t, enterprise } = w;
  const agent = await t.call('POST', '/v1/agents', { auth: enterprise, body: { name: 'buyer' } });
  const sa = await t.call('POST', '/v1/authorities', {
    auth: enterprise,
    body: { agent_id: agent.body.id, currency: 'USD', ...authority },
  });
  const cardToken = `${randomBytes(4).toString('hex')}-7ac5-4a2c-9f3e-${randomBytes(6).toString('hex')}`;
  const binding = await t.call('POST', '/v1/bindings', {
    auth: enterprise,
    body: {
      agent_id: agent.body.id,
      authority_id: sa.body.id,
      processor_id: w.processorId,
      credential: { type: 'card', reference: cardToken, last4: '4242' },
    },
  });
  if (binding.status !== 201) throw new Error(`card setup failed: ${sa.text} ${binding.text}`);
  return { cardToken, authorityId: sa.body.id };
}

async function connect(w: World, secret: string) {
  return w.t.call('POST', '/v1/bridges/lithic-asa', {
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

const bridge = suite('Lithic ASA bridge');
let t: TestApp;
let w: World;
let secret: string;

bridge.before(async () => {
  t = await startTestApp({ bridges: new MemoryBridgeStorage() });
  w = await makeWorld(t);
  secret = lithicSecret();
  const res = await connect(w, secret);
  assert.is(res.status, 201, res.text);
});
bridge.after(async () => {
  await t.close();
});

bridge('registration: its own kind beside Stripe, validated, shown without the secret', async () => {
  const got = await t.call('GET', '/v1/bridges/lithic-asa', { auth: w.enterprise });
  assert.is(got.status, 200, got.text);
  assertMatches('Bridge', got.body);
  assert.is(got.body.processor, 'lithic_asa');
  assert.is(got.body.webhook_path, `/v1/bridges/lithic-asa/${w.orgId}`);
  assert.not.ok(got.text.includes(secret.slice(6, 20)));
  assert.is((await connect(w, lithicSecret())).body.error.code, 'conflict');
  const bad = await t.call('POST', '/v1/bridges/lithic-asa', {
    auth: w.enterprise,
    body: { processor_id: w.processorId, signing_secret: 'not a secret' },
  });
  assert.is(bad.status, 422);
  assert.is(bad.body.error.code, 'validation_failed');
  // The org's Stripe bridge is a separate record: registering it does not touch the Lithic one.
  const stripe = await t.call('POST', '/v1/bridges/stripe-issuing', {
    auth: w.enterprise,
    body: { processor_id: w.processorId, signing_secret: stripeSecret() },
  });
  assert.is(stripe.status, 201, stripe.text);
  assert.is(
    (await t.call('GET', '/v1/bridges/lithic-asa', { auth: w.enterprise })).body.secrets[0].id,
    got.body.secrets[0].id,
  );
});

bridge('approve: ALLOW is APPROVED, the ASA token is the authorization id', async () => {
  const { cardToken, authorityId } = await cardOf(w);
  const req = asaRequest(cardToken, { amount: 1850 });
  const res = await postLithic(t, w.orgId, req, secret);
  assert.is(res.status, 200, res.text);
  assertMatches('LithicAsaAnswer', res.body);
  assert.is(res.body.token, req.token);
  assert.is(res.body.result, 'APPROVED');
  assert.is(res.body.approved_amount, undefined);
  assert.is(res.body.allowance.action, 'ALLOW');
  const rec = await record(w, req.token as string);
  assert.is(rec.status, 200, rec.text);
  assert.is(rec.body.status, 'approved');
  assert.is(rec.body.decision_id, res.body.allowance.decision_id);
  assert.is(rec.body.amount, 1850);
  assert.is(await spent(w, authorityId), 1850);
});

bridge(
  'decline with reasons: over the limit is VELOCITY_EXCEEDED, a blocked MCC is UNAUTHORIZED_MERCHANT',
  async () => {
    const { cardToken, authorityId } = await cardOf(w);
    const req = asaRequest(cardToken, { amount: 60_000 });
    const res = await postLithic(t, w.orgId, req, secret);
    assert.is(res.status, 200, res.text);
    assert.is(res.body.result, 'VELOCITY_EXCEEDED');
    assert.is(res.body.allowance.action, 'DENY');
    const rec = await record(w, req.token as string);
    assert.equal(res.body.allowance.reason_codes, rec.body.reason_codes);
    assert.is(await spent(w, authorityId), 0);

    const blocked = await cardOf(w, {
      limits: { per_transaction: 50_000 },
      merchant_rules: { block_mcc: ['7995'] },
    });
    const gamble = await postLithic(t, w.orgId, asaRequest(blocked.cardToken, { amount: 100, mcc: '7995' }), secret);
    assert.is(gamble.status, 200, gamble.text);
    assert.is(gamble.body.allowance.action, 'DENY', gamble.text);
    assert.is(gamble.body.result, 'UNAUTHORIZED_MERCHANT', gamble.text);
  },
);

bridge('partial amount: approved_amount when the terminal takes it; declined, nothing held, when not', async () => {
  const partial = { limits: { daily: 5_000 }, partial_approval: true };
  const { cardToken, authorityId } = await cardOf(w, partial);
  const res = await postLithic(t, w.orgId, asaRequest(cardToken, { amount: 8_000, partial: true }), secret);
  assert.is(res.status, 200, res.text);
  assert.is(res.body.result, 'APPROVED', res.text);
  assert.is(res.body.approved_amount, 5_000);
  assert.is(res.body.allowance.action, 'ALLOW_WITH_LIMITS');
  assert.is(await spent(w, authorityId), 5_000);

  const second = await cardOf(w, partial);
  const no = await postLithic(t, w.orgId, asaRequest(second.cardToken, { amount: 8_000, partial: false }), secret);
  assert.is(no.status, 200, no.text);
  // The engine is told the terminal cannot take a partial approval: it declines over the limit.
  assert.is(no.body.result, 'VELOCITY_EXCEEDED');
  assert.is(no.body.allowance.action, 'DENY');
  assert.is(no.body.approved_amount, undefined);
  await t.app.services.bridges.settled();
  assert.is(await spent(w, second.authorityId), 0, 'nothing held for a declined answer');
});

bridge('a replayed request (Lithic retries with the same token) gets the same decision', async () => {
  const { cardToken, authorityId } = await cardOf(w);
  const req = asaRequest(cardToken, { amount: 1200 });
  const first = await postLithic(t, w.orgId, req, secret);
  const again = await postLithic(t, w.orgId, req, secret);
  assert.is(again.status, 200, again.text);
  assert.equal(again.body, first.body);
  assert.is(await spent(w, authorityId), 1200, 'held once');
});

bridge(
  'bad or stale signature, unknown org, missing headers: 401 bridge_signature_invalid, nothing decided',
  async () => {
    const { cardToken } = await cardOf(w);
    type Res = { status: number; body: { error: { code: string } } };
    const cases: [string, (r: Record<string, unknown>) => Promise<Res>][] = [
      ['wrong secret', (r) => postLithic(t, w.orgId, r, lithicSecret())],
      ['stale timestamp', (r) => postLithic(t, w.orgId, r, secret, Math.floor(Date.now() / 1000) - 600)],
      ['unknown org', (r) => postLithic(t, 'org_00000000000000000000', r, secret)],
      [
        'body changed after signing',
        (r) => postLithic(t, w.orgId, r, secret, undefined, (p) => p.replace('1850', '1851')),
      ],
      [
        'no headers',
        (r) =>
          t.call('POST', `/v1/bridges/lithic-asa/${w.orgId}`, {
            raw: JSON.stringify(r),
            headers: { 'content-type': 'application/json' },
          }),
      ],
    ];
    for (const [name, send] of cases) {
      const req = asaRequest(cardToken);
      const res = await send(req);
      assert.is(res.status, 401, name);
      assert.is(res.body.error.code, 'bridge_signature_invalid', name);
      assert.is((await record(w, req.token as string)).status, 404, `${name}: nothing decided`);
    }
  },
);

bridge(
  'an unknown card is declined; a card bound in another org is declined the same way, without its data',
  async () => {
    const unknownReq = asaRequest('00000000-0000-4000-8000-000000000000');
    const unknown = await postLithic(t, w.orgId, unknownReq, secret);
    assert.is(unknown.status, 200, unknown.text);
    assert.is(unknown.body.result, 'CARD_PAUSED');
    assert.equal(unknown.body.allowance.reason_codes, ['binding_not_found']);

    const other = await makeWorld(t, 'Other org');
    const foreign: World = { ...other, processorId: w.processorId, processor: w.processor };
    const { cardToken, authorityId } = await cardOf(foreign);
    const req = asaRequest(cardToken, { amount: 1000 });
    const res = await postLithic(t, w.orgId, req, secret);
    assert.is(res.status, 200, res.text);
    assert.equal(res.body, {
      token: req.token,
      result: 'CARD_PAUSED',
      allowance: { action: 'DENY', reason_codes: ['binding_not_found'] },
    });
    assert.not.ok(res.text.includes(other.orgId));
    await t.app.services.bridges.settled();
    assert.is(await spent(foreign, authorityId), 0, "the other org's budget is untouched");
  },
);

bridge('a signed request of the wrong shape is 422 validation_failed, nothing decided', async () => {
  const res = await postLithic(t, w.orgId, { token: 'abc', card: {} }, secret);
  assert.is(res.status, 422, res.text);
  assert.is(res.body.error.code, 'validation_failed');
  assert.is((await record(w, 'abc')).status, 404);
});

bridge('transaction events capture and reverse the hold, idempotently, with their own secret', async () => {
  const eventsSecret = lithicSecret();
  const reg = await t.call('POST', '/v1/bridges/lithic-events', {
    auth: w.enterprise,
    body: { processor_id: w.processorId, signing_secret: eventsSecret },
  });
  assert.is(reg.status, 201, reg.text);
  assertMatches('Bridge', reg.body);
  assert.is(reg.body.webhook_path, `/v1/bridges/lithic-events/${w.orgId}`);

  const { cardToken, authorityId } = await cardOf(w);
  const settled = asaRequest(cardToken, { amount: 2000 });
  assert.is((await postLithic(t, w.orgId, settled, secret)).body.result, 'APPROVED');
  const voided = asaRequest(cardToken, { amount: 700 });
  assert.is((await postLithic(t, w.orgId, voided, secret)).body.result, 'APPROVED');
  assert.is(await spent(w, authorityId), 2700);

  const pending = await postLithicEvent(
    t,
    w.orgId,
    transactionEvent(settled.token as string, cardToken, 'PENDING'),
    eventsSecret,
  );
  assert.equal(pending.body, { received: true, outcome: 'ignored' });

  const settle = transactionEvent(settled.token as string, cardToken, 'SETTLED', 1500);
  const cap = await postLithicEvent(t, w.orgId, settle, eventsSecret);
  assert.is(cap.status, 200, cap.text);
  assertMatches('BridgeEventAck', cap.body);
  assert.is(cap.body.outcome, 'captured');
  assert.is((await record(w, settled.token as string)).body.status, 'captured');
  assert.is(await spent(w, authorityId), 2200, 'settled 1500 of the 2000 held, plus the 700 still held');

  const voidEvent = transactionEvent(voided.token as string, cardToken, 'VOIDED');
  assert.is((await postLithicEvent(t, w.orgId, voidEvent, eventsSecret)).body.outcome, 'reversed');
  assert.is(await spent(w, authorityId), 1500);

  // Replays change nothing.
  assert.is((await postLithicEvent(t, w.orgId, settle, eventsSecret)).status, 200);
  assert.is((await postLithicEvent(t, w.orgId, voidEvent, eventsSecret)).status, 200);
  assert.is(await spent(w, authorityId), 1500);

  const unknown = transactionEvent('00000000-0000-4000-8000-00000000beef', cardToken, 'VOIDED');
  assert.is((await postLithicEvent(t, w.orgId, unknown, eventsSecret)).body.outcome, 'unknown_authorization');
  const other = await postLithicEvent(t, w.orgId, { event_type: 'card.created', token: 'x' }, eventsSecret);
  assert.equal(other.body, { received: true, outcome: 'ignored' });

  // The ASA secret does not sign events, and an event signed wrongly moves nothing.
  const fresh = asaRequest(cardToken, { amount: 300 });
  assert.is((await postLithic(t, w.orgId, fresh, secret)).body.result, 'APPROVED');
  const forged = await postLithicEvent(
    t,
    w.orgId,
    transactionEvent(fresh.token as string, cardToken, 'VOIDED'),
    secret,
  );
  assert.is(forged.status, 401);
  assert.is(forged.body.error.code, 'bridge_signature_invalid');
  assert.is((await record(w, fresh.token as string)).body.status, 'approved');
  assert.is(await spent(w, authorityId), 1800);
});

bridge('several clearings of one transaction and returns: the ledger follows what settled, once each', async () => {
  const { cardToken, authorityId } = await cardOf(w);
  // The org's events bridge gets a secret this test knows.
  const eventsSecret = lithicSecret();
  const rotated = await t.call('PUT', '/v1/bridges/lithic-events/secret', {
    auth: w.enterprise,
    body: { signing_secret: eventsSecret, grace_seconds: 0 },
  });
  assert.is(rotated.status, 200, rotated.text);
  const req = asaRequest(cardToken, { amount: 3000 });
  assert.is((await postLithic(t, w.orgId, req, secret)).body.result, 'APPROVED');
  const token = req.token as string;
  const auth = transactionStep('AUTHORIZATION', 3000);
  const clearing1 = transactionStep('CLEARING', 1000);
  const clearing2 = transactionStep('CLEARING', 1200);
  const ret = transactionStep('RETURN', 500);
  const declinedReturn = { ...transactionStep('RETURN', 400), result: 'DECLINED' };

  // A clearing while the transaction is still pending: recorded, the hold stays whole until it closes.
  const partial = transactionEvent(token, cardToken, 'PENDING', 1000, [auth, clearing1]);
  assert.is((await postLithicEvent(t, w.orgId, partial, eventsSecret)).body.outcome, 'captured');
  let rec = (await record(w, token)).body;
  assert.equal([rec.status, rec.captured_amount], ['approved', 1000]);
  assert.is(await spent(w, authorityId), 3000);

  // Settled with a second clearing: both captured once, the other 800 of the hold released.
  const settled = transactionEvent(token, cardToken, 'SETTLED', 2200, [auth, clearing1, clearing2]);
  assert.is((await postLithicEvent(t, w.orgId, settled, eventsSecret)).body.outcome, 'captured');
  assert.is((await postLithicEvent(t, w.orgId, settled, eventsSecret)).body.outcome, 'captured');
  assert.is((await postLithicEvent(t, w.orgId, partial, eventsSecret)).body.outcome, 'captured');
  rec = (await record(w, token)).body;
  assert.equal([rec.status, rec.captured_amount], ['captured', 2200]);
  assert.is(await spent(w, authorityId), 2200);

  // A return gives budget back once; a declined one gives nothing.
  const returned = transactionEvent(token, cardToken, 'SETTLED', 2200, [
    auth,
    clearing1,
    clearing2,
    ret,
    declinedReturn,
  ]);
  assert.is((await postLithicEvent(t, w.orgId, returned, eventsSecret)).body.outcome, 'captured');
  assert.is((await postLithicEvent(t, w.orgId, returned, eventsSecret)).body.outcome, 'captured');
  assert.is(await spent(w, authorityId), 1700);
  rec = (await record(w, token)).body;
  assert.equal([rec.captured_amount, rec.refunded_amount], [2200, 500]);

  // A late clearing after settlement is spend of its own.
  const late = transactionStep('CLEARING', 300);
  const again = transactionEvent(token, cardToken, 'SETTLED', 2500, [auth, clearing1, clearing2, ret, late]);
  assert.is((await postLithicEvent(t, w.orgId, again, eventsSecret)).body.outcome, 'captured');
  assert.is(await spent(w, authorityId), 2000);
});

bridge('rotation keeps the old secret for its grace; delete refuses every call after', async () => {
  const app = await startTestApp({ bridges: new MemoryBridgeStorage() });
  try {
    const world = await makeWorld(app);
    const { cardToken } = await cardOf(world);
    const old = lithicSecret();
    assert.is((await connect(world, old)).status, 201);
    const next = lithicSecret();
    const rotated = await app.call('PUT', '/v1/bridges/lithic-asa/secret', {
      auth: world.enterprise,
      body: { signing_secret: next, grace_seconds: 3600 },
    });
    assert.is(rotated.status, 200, rotated.text);
    assert.is(rotated.body.secrets.length, 2);
    const wrongFormat = await app.call('PUT', '/v1/bridges/lithic-asa/secret', {
      auth: world.enterprise,
      body: { signing_secret: 'whsec_short' },
    });
    assert.is(wrongFormat.body.error.code, 'validation_failed');
    assert.is((await postLithic(app, world.orgId, asaRequest(cardToken), next)).body.result, 'APPROVED');
    assert.is((await postLithic(app, world.orgId, asaRequest(cardToken), old)).body.result, 'APPROVED');
    // A secret given without the whsec_ prefix is the same key.
    const bare = lithicSecret().slice('whsec_'.length);
    const third = await app.call('PUT', '/v1/bridges/lithic-asa/secret', {
      auth: world.enterprise,
      body: { signing_secret: bare, grace_seconds: 3600 },
    });
    assert.is(third.status, 200, third.text);
    assert.is((await postLithic(app, world.orgId, asaRequest(cardToken), `whsec_${bare}`)).body.result, 'APPROVED');
    assert.is((await postLithic(app, world.orgId, asaRequest(cardToken), bare)).body.result, 'APPROVED');
    const gone = await app.call('DELETE', '/v1/bridges/lithic-asa', { auth: world.enterprise });
    assert.is(gone.status, 204);
    const refused = await postLithic(app, world.orgId, asaRequest(cardToken), next);
    assert.is(refused.status, 401);
    assert.is(refused.body.error.code, 'bridge_signature_invalid');
  } finally {
    await app.close();
  }
});

bridge.run();

const frozen = suite('Lithic ASA bridge: a frozen store');

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
    const { cardToken } = await cardOf(world, {
      limits: { per_transaction: 50_000 },
      stand_in: { action: 'ALLOW_UP_TO', max_amount: 2500 },
    });
    const s = lithicSecret();
    assert.is((await connect(world, s)).status, 201);
    const warm = await postLithic(app, world.orgId, asaRequest(cardToken), s);
    assert.is(warm.status, 200, warm.text);
    assert.is(warm.body.result, 'APPROVED');
    assert.is(warm.body.allowance.stand_in, undefined);

    for (const m of ['getProcessor', 'findBinding', 'claimAuthorization', 'getAuthorization'] as const) {
      faulty.wrap(m, async (original, ...args) => {
        await gate;
        return original(...args);
      });
    }
    bridges.frozen = gate;
    clock.advance(6_000);
    const res = await postLithic(
      app,
      world.orgId,
      asaRequest(cardToken, { amount: 2000 }),
      s,
      Math.floor(clock.now() / 1000),
    );
    assert.is(res.status, 200, res.text);
    assert.is(res.body.result, 'APPROVED');
    assert.is(res.body.allowance.stand_in, true);
    assert.equal(res.body.allowance.reason_codes, ['stand_in_store_unavailable']);
  } finally {
    release();
    await app.close();
  }
});

frozen.run();

const answers = suite('Lithic ASA answer mapping');

/** A decision with the fields the mapping reads. */
function decision(overrides: Partial<Decision>): Decision {
  return {
    decision_id: 'dec_01test',
    action: 'ALLOW',
    allowed: true,
    amount: 8_000,
    approved_amount: 8_000,
    reason_codes: [],
    proof: 'header.payload.signature',
    stand_in: false,
    ...overrides,
  } as Decision;
}

answers('ALLOW_WITH_LIMITS below the amount: approved_amount when partial-capable, a decline otherwise', () => {
  const limited = decision({ action: 'ALLOW_WITH_LIMITS', approved_amount: 5_000, reason_codes: ['limit_exceeded'] });
  const yes = lithicAnswer('tok', limited, true);
  assert.is(yes.result, 'APPROVED');
  assert.is(yes.approved_amount, 5_000);
  const no = lithicAnswer('tok', limited, false);
  assert.is(no.result, 'INSUFFICIENT_FUNDS');
  assert.is(no.approved_amount, undefined);
  assert.ok(no.allowance?.reason_codes.includes('partial_amount_not_supported'));
  const whole = lithicAnswer('tok', decision({ action: 'ALLOW_WITH_LIMITS' }), false);
  assert.is(whole.result, 'APPROVED');
  assert.is(whole.approved_amount, undefined, 'a full approval never carries approved_amount');
});

answers('DENY and STEP_UP decline with the closest Lithic result', () => {
  const deny = (reasons: string[], action = 'DENY') =>
    lithicAnswer('tok', decision({ action, allowed: false, reason_codes: reasons } as Partial<Decision>), true).result;
  assert.is(deny(['mcc_blocked']), 'UNAUTHORIZED_MERCHANT');
  assert.is(deny(['country_not_allowed']), 'UNAUTHORIZED_MERCHANT');
  assert.is(deny(['per_transaction_limit_exceeded']), 'VELOCITY_EXCEEDED');
  assert.is(deny(['binding_not_found']), 'CARD_PAUSED');
  assert.is(deny(['intent_required'], 'STEP_UP'), 'CARD_PAUSED');
});

answers.run();

const signing = suite('Lithic ASA bridge: signing scheme and clock');

signing('signed by hand per the documented scheme: one matching v1 value among several is enough', async () => {
  const app = await startTestApp({ bridges: new MemoryBridgeStorage() });
  try {
    const world = await makeWorld(app);
    const { cardToken } = await cardOf(world);
    const s = lithicSecret();
    assert.is((await connect(world, s)).status, 201);
    const nowS = Math.floor(Date.now() / 1000);
    const send = (req: Record<string, unknown>, signature: (id: string, payload: string) => string) => {
      const payload = JSON.stringify(req);
      const id = `msg_${randomBytes(8).toString('hex')}`;
      return postLithicRaw(app, world.orgId, payload, { id, timestampS: nowS, signature: signature(id, payload) });
    };
    const good = asaRequest(cardToken);
    const ok = await send(good, (id, p) => lithicSignatureByHand(s, id, nowS, p));
    assert.is(ok.status, 200, ok.text);
    assert.is(ok.body.result, 'APPROVED');
    const several = asaRequest(cardToken);
    const rotating = await send(several, (id, p) =>
      [
        lithicSignatureByHand(lithicSecret(), id, nowS, p),
        `v1a,${lithicSignatureByHand(s, id, nowS, p).slice(3)}`,
        lithicSignatureByHand(s, id, nowS, p),
      ].join(' '),
    );
    assert.is(rotating.status, 200, rotating.text);
    const refused: [string, Record<string, unknown>, (id: string, p: string) => string][] = [
      ['another secret', asaRequest(cardToken), (id, p) => lithicSignatureByHand(lithicSecret(), id, nowS, p)],
      [
        'another scheme tag only',
        asaRequest(cardToken),
        (id, p) => `v2,${lithicSignatureByHand(s, id, nowS, p).slice(3)}`,
      ],
      ['signed for another id', asaRequest(cardToken), (_id, p) => lithicSignatureByHand(s, 'msg_other', nowS, p)],
      ['signed for another time', asaRequest(cardToken), (id, p) => lithicSignatureByHand(s, id, nowS - 1, p)],
      [
        'hex instead of base64',
        asaRequest(cardToken),
        (id, p) => `v1,${Buffer.from(lithicSignatureByHand(s, id, nowS, p).slice(3), 'base64').toString('hex')}`,
      ],
    ];
    // The older X-Lithic-HMAC header alone (base64 HMAC-SHA256 of the body) is not Lithic's ASA scheme today.
    const legacy = asaRequest(cardToken);
    const legacyPayload = JSON.stringify(legacy);
    const legacyRes = await app.call('POST', `/v1/bridges/lithic-asa/${world.orgId}`, {
      raw: legacyPayload,
      headers: {
        'content-type': 'application/json',
        'x-lithic-hmac': createHmac('sha256', Buffer.from(s.slice('whsec_'.length), 'base64'))
          .update(legacyPayload)
          .digest('base64'),
      },
    });
    assert.is(legacyRes.status, 401, legacyRes.text);
    assert.is(legacyRes.body.error.code, 'bridge_signature_invalid');
    assert.is((await app.call('GET', `/v1/authorizations/${legacy.token}`, { auth: world.processor })).status, 404);
    for (const [name, req, signature] of refused) {
      const res = await send(req, signature);
      assert.is(res.status, 401, name);
      assert.is(res.body.error.code, 'bridge_signature_invalid', name);
      const rec = await app.call('GET', `/v1/authorizations/${req.token}`, { auth: world.processor });
      assert.is(rec.status, 404, `${name}: nothing decided`);
    }
  } finally {
    await app.close();
  }
});

signing('the official package helper accepts and refuses the same headers as the bridge', () => {
  const helper = new Lithic({ apiKey: 'unused', webhookSecret: null });
  const s = lithicSecret();
  const nowS = Math.floor(Date.now() / 1000);
  const body = JSON.stringify(asaRequest('card-token'));
  const id = 'msg_agreement';
  const cases: [string, string, string][] = [
    ['valid', body, lithicSignatureByHand(s, id, nowS, body)],
    ['body changed', `${body} `, lithicSignatureByHand(s, id, nowS, body)],
    ['another secret', body, lithicSignatureByHand(lithicSecret(), id, nowS, body)],
    ['several values', body, `v1,AAAA ${lithicSignatureByHand(s, id, nowS, body)}`],
  ];
  for (const [name, payload, signature] of cases) {
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(nowS), 'webhook-signature': signature };
    let official = true;
    try {
      helper.webhooks.verifySignature(payload, headers, s);
    } catch {
      official = false;
    }
    const ours = verifyLithicSignature(Buffer.from(payload), headers, [s], nowS * 1000);
    assert.is(ours, official, name);
  }
});

signing('the timestamp is judged on the injected clock, in the past and in the future', async () => {
  // A server clock a day ahead of the wall clock: the official helper would judge by the wall clock.
  const clock = new ManualClock(Date.now() + 86_400_000);
  const app = await startTestApp({ bridges: new MemoryBridgeStorage(), clock });
  try {
    const world = await makeWorld(app);
    const { cardToken } = await cardOf(world);
    const s = lithicSecret();
    assert.is((await connect(world, s)).status, 201);
    const nowS = Math.floor(clock.now() / 1000);
    const cases: [string, number, number][] = [
      ['at the injected now', nowS, 200],
      ['just within the tolerance ahead', nowS + 299, 200],
      ['just within the tolerance behind', nowS - 299, 200],
      ['more than the tolerance ahead', nowS + 301, 401],
      ['more than the tolerance behind', nowS - 301, 401],
      ['the wall clock, a day behind the server', Math.floor(Date.now() / 1000), 401],
    ];
    for (const [name, at, status] of cases) {
      const req = asaRequest(cardToken, { amount: 100 });
      const res = await postLithic(app, world.orgId, req, s, at);
      assert.is(res.status, status, `${name}: ${res.text}`);
      const rec = await app.call('GET', `/v1/authorizations/${req.token}`, { auth: world.processor });
      assert.is(rec.status, status === 200 ? 200 : 404, name);
      if (status === 200) assert.is(res.body.result, 'APPROVED', name);
      else assert.is(res.body.error.code, 'bridge_signature_invalid', name);
    }
  } finally {
    await app.close();
  }
});

signing.run();

const country = suite('Lithic ASA bridge: merchant country');

country('alpha-3 codes map to the alpha-2 the policy reads; unknown codes state no country', () => {
  assert.is(lithicMerchantCountry('USA'), 'US');
  assert.is(lithicMerchantCountry('DEU'), 'DE');
  assert.is(lithicMerchantCountry('gbr'), 'GB');
  assert.is(lithicMerchantCountry('FR'), 'FR', 'an alpha-2 code the table knows is kept');
  assert.is(lithicMerchantCountry('XKX'), null, 'not in ISO 3166-1');
  assert.is(lithicMerchantCountry('ZZZ'), null);
  assert.is(lithicMerchantCountry('XX'), null);
  assert.is(lithicMerchantCountry('US A'), null);
  assert.is(lithicMerchantCountry(''), null);
  assert.is(lithicMerchantCountry(null), null);
  assert.is(lithicMerchantCountry(undefined), null);
});

country('allow_countries decides on the mapped code; an unknown code is declined, not guessed', async () => {
  const app = await startTestApp({ bridges: new MemoryBridgeStorage() });
  try {
    const world = await makeWorld(app);
    const s = lithicSecret();
    assert.is((await connect(world, s)).status, 201);
    const { cardToken } = await cardOf(world, {
      limits: { per_transaction: 50_000 },
      merchant_rules: { allow_countries: ['US'] },
    });
    const cases: [string | null, string, string[]][] = [
      ['USA', 'APPROVED', []],
      ['DEU', 'UNAUTHORIZED_MERCHANT', ['country_not_allowed']],
      ['XKX', 'UNAUTHORIZED_MERCHANT', ['country_not_allowed']],
      [null, 'UNAUTHORIZED_MERCHANT', ['country_not_allowed']],
    ];
    for (const [code, result, reasons] of cases) {
      const res = await postLithic(app, world.orgId, asaRequest(cardToken, { amount: 100, country: code }), s);
      assert.is(res.status, 200, res.text);
      assert.is(res.body.result, result, String(code));
      for (const r of reasons) assert.ok(res.body.allowance.reason_codes.includes(r), `${code}: ${res.text}`);
    }
  } finally {
    await app.close();
  }
});

country.run();
