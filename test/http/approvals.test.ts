import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WebhookConfig } from '../../src/config/index.js';
import { makeWorld, startTestApp, type TestApp, type TestResponse, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

function ok(res: TestResponse, status: number, schema?: string): void {
  assert.is(res.status, status, res.text);
  if (schema) assertMatches(schema, res.body);
}

function expectError(res: TestResponse, status: number, code: string): void {
  assert.is(res.status, status, res.text);
  assert.is(res.body?.error?.code, code, res.text);
  assertMatches('ErrorResponse', res.body);
}

/** Webhooks to the loopback receiver, retried fast. */
const FAST: Partial<WebhookConfig> = {
  allowPrivateTargets: true,
  allowHttp: true,
  backoffBaseMs: 20,
  backoffCapMs: 80,
  maxAttempts: 50,
  pollIntervalMs: 50,
  timeoutMs: 2000,
};

const MERCHANT = { id: 'mer_hotel_1', name: 'Grand Hotel', mcc: '7011', country: 'US' };

let t: TestApp;
let w: World;
let other: World;
let receiver: WebhookReceiver;
let reference: string;
let n = 0;

function authorizeBody(amount: number, extra: Record<string, unknown> = {}) {
  return {
    authorization_id: `pa_http_${++n}`,
    credential_reference: reference,
    amount,
    currency: 'USD',
    merchant: MERCHANT,
    ...extra,
  };
}

async function authorize(body: Record<string, unknown>): Promise<TestResponse> {
  const res = await t.call('POST', '/v1/authorize', { auth: w.processor, body });
  ok(res, 200, 'Decision');
  return res;
}

/** Links every audit draft and delivers every due webhook. */
async function settle(): Promise<void> {
  await t.engine.audit.chainer.drain();
  await t.app.services.webhooks.dispatcher?.drain({ timeoutMs: 20_000 });
}

const api = suite('approvals and holds over HTTP');
api.before(async () => {
  t = await startTestApp({ memoryWebhooks: true, webhookConfig: FAST });
  w = await makeWorld(t);
  other = await makeWorld(t, 'Other');
  receiver = await startWebhookReceiver();
  const hook = await t.call('POST', '/v1/webhooks', {
    auth: w.enterprise,
    body: {
      url: receiver.url,
      events: ['approval.requested', 'approval.approved', 'approval.declined', 'approval.expired'],
    },
  });
  ok(hook, 201);
  receiver.secret = hook.body.secret;
  const agent = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'traveller' } });
  const authority = await t.call('POST', '/v1/authorities', {
    auth: w.enterprise,
    body: {
      agent_id: agent.body.id,
      currency: 'USD',
      step_up_above: 10_000,
      hold_period_seconds: 3 * 24 * 3600,
      limits: { per_transaction: 100_000, daily: 200_000 },
    },
  });
  ok(authority, 201, 'Authority');
  assert.is(authority.body.hold_period_seconds, 3 * 24 * 3600);
  reference = `tok_http_${Date.now()}`;
  const binding = await t.call('POST', '/v1/bindings', {
    auth: w.enterprise,
    body: {
      agent_id: agent.body.id,
      authority_id: authority.body.id,
      processor_id: w.processorId,
      credential: { type: 'card', reference },
    },
  });
  ok(binding, 201);
});
api.after(async () => {
  await t.app.stop();
  await t.close();
  await receiver.close();
});

api(
  'STEP_UP → approval link → approved for less → one authorization with approval_id; webhooks announce it',
  async () => {
    const stepped = await authorize(authorizeBody(40_000));
    assert.is(stepped.body.action, 'STEP_UP');
    const approvalId: string = stepped.body.approval_id;
    assert.match(approvalId, /^apr_/);
    assert.ok(stepped.body.approval_expires_at);

    const got = await t.call('GET', `/v1/approvals/${approvalId}`, { auth: w.enterprise });
    ok(got, 200, 'Approval');
    assert.equal(
      [got.body.status, got.body.amount, got.body.merchant, got.body.livemode],
      ['pending', 40_000, MERCHANT, true],
    );
    const pending = await t.call('GET', '/v1/approvals?status=pending', { auth: w.enterprise });
    ok(pending, 200, 'ApprovalPage');
    assert.ok(pending.body.items.some((a: { id: string }) => a.id === approvalId));
    expectError(await t.call('GET', '/v1/approvals?status=maybe', { auth: w.enterprise }), 422, 'validation_failed');
    expectError(await t.call('GET', `/v1/approvals/${approvalId}`, { auth: other.enterprise }), 404, 'not_found');
    expectError(await t.call('GET', `/v1/approvals/${approvalId}`, { auth: w.processor }), 403, 'forbidden');

    const link = await t.call('POST', `/v1/approvals/${approvalId}/link`, { auth: w.enterprise, body: {} });
    ok(link, 201, 'ApprovalLink');
    const shown = await t.call('GET', link.body.path);
    ok(shown, 200, 'Approval');
    assert.is(shown.body.id, approvalId);
    const forged = link.body.path.replace(/.$/, (c: string) => (c === 'A' ? 'B' : 'A'));
    expectError(await t.call('GET', forged), 403, 'approval_link_invalid');
    expectError(
      await t.call('POST', link.body.path, { body: { decision: 'approve', amount: 40_001 } }),
      422,
      'validation_failed',
    );
    const decided = await t.call('POST', link.body.path, { body: { decision: 'approve', amount: 30_000 } });
    ok(decided, 200, 'Approval');
    assert.equal([decided.body.status, decided.body.approved_amount], ['approved', 30_000]);
    expectError(await t.call('POST', link.body.path, { body: { decision: 'decline' } }), 409, 'approval_link_used');

    const tooMuch = await authorize(authorizeBody(30_001, { approval_id: approvalId }));
    assert.equal(tooMuch.body.reason_codes, ['approval_amount_exceeded']);
    const paid = await authorize(authorizeBody(29_500, { approval_id: approvalId }));
    assert.equal([paid.body.action, paid.body.approved_amount, paid.body.approval_id], ['ALLOW', 29_500, approvalId]);
    const reused = await authorize(authorizeBody(100, { approval_id: approvalId }));
    assert.equal(reused.body.reason_codes, ['approval_already_used']);

    // The enterprise reads the approved authorization by id; another org cannot.
    const read = await t.call('GET', `/v1/authorizations/${paid.body.authorization_id}`, { auth: w.enterprise });
    ok(read, 200, 'Authorization');
    assert.equal([read.body.status, read.body.approval_id], ['approved', approvalId]);
    const expectedHold = Date.parse(paid.body.created_at) + 3 * 24 * 3600 * 1000;
    assert.is(Date.parse(read.body.hold_expires_at), expectedHold, "the authority's hold period");
    expectError(
      await t.call('GET', `/v1/authorizations/${paid.body.authorization_id}`, { auth: other.enterprise }),
      404,
      'not_found',
    );
    ok(await t.call('GET', `/v1/authorizations/${paid.body.authorization_id}`, { auth: w.processor }), 200);
    expectError(
      await t.call('GET', `/v1/authorizations/${paid.body.authorization_id}`, { auth: other.processor }),
      404,
      'not_found',
    );

    await settle();
    await receiver.waitFor((r) => r.filter((x) => x.json?.data?.approval_id === approvalId).length >= 2, 10_000);
    const mine = receiver.received.filter((x) => x.json.data.approval_id === approvalId);
    assert.equal([...new Set(mine.map((x) => x.json.type))].sort(), ['approval.approved', 'approval.requested']);
    assert.ok(mine.every((x) => x.verified === true));
  },
);

api('decline through the API, expiry by the sweep: each announced; named approvals are refused', async () => {
  const a = (await authorize(authorizeBody(20_000))).body.approval_id as string;
  const b = (await authorize(authorizeBody(20_000))).body.approval_id as string;
  expectError(await t.call('POST', `/v1/approvals/${a}/decline`, { auth: other.enterprise }), 404, 'not_found');
  const declined = await t.call('POST', `/v1/approvals/${a}/decline`, { auth: w.enterprise, body: { note: 'no' } });
  ok(declined, 200, 'Approval');
  assert.is(declined.body.status, 'declined');
  expectError(await t.call('POST', `/v1/approvals/${a}/approve`, { auth: w.enterprise }), 409, 'invalid_state');
  assert.equal((await authorize(authorizeBody(20_000, { approval_id: a }))).body.reason_codes, ['approval_declined']);
  assert.equal((await authorize(authorizeBody(20_000, { approval_id: b }))).body.reason_codes, ['approval_pending']);
  // The sweep a server runs every minute, run now at a time past the approval's expiry.
  assert.ok((await t.engine.expireApprovals(Date.now() + 25 * 3600 * 1000)) >= 1);
  const expired = await t.call('GET', `/v1/approvals/${b}`, { auth: w.enterprise });
  assert.is(expired.body.status, 'expired');
  assert.equal((await authorize(authorizeBody(20_000, { approval_id: b }))).body.reason_codes, ['approval_expired']);
  await settle();
  await receiver.waitFor(
    (r) =>
      r.some((x) => x.json?.type === 'approval.declined' && x.json.data.approval_id === a) &&
      r.some((x) => x.json?.type === 'approval.expired' && x.json.data.approval_id === b),
    10_000,
  );
});

api(
  'an incremental authorization over HTTP: signed, idempotent, bounded by the windows; capture keeps it',
  async () => {
    const first = await authorize(authorizeBody(8_000));
    assert.is(first.body.action, 'ALLOW');
    const path = `/v1/authorizations/${first.body.authorization_id}/increment`;
    const raised = await t.call('POST', path, { auth: w.processor, body: { increment_id: 'night-2', amount: 2_000 } });
    ok(raised, 200, 'IncrementDecision');
    assert.equal([raised.body.action, raised.body.approved_amount, raised.body.livemode], ['ALLOW', 10_000, true]);
    const signed = JSON.parse(Buffer.from(raised.body.proof.split('.')[1], 'base64url').toString('utf8'));
    const { proof: _proof, ...fields } = raised.body;
    assert.equal(signed, fields, 'the proof signs every other field, livemode included');
    const replay = await t.call('POST', path, { auth: w.processor, body: { increment_id: 'night-2', amount: 2_000 } });
    ok(replay, 200, 'IncrementDecision');
    assert.is(replay.body.decision_id, raised.body.decision_id);
    expectError(
      await t.call('POST', path, { auth: w.processor, body: { increment_id: 'night-2', amount: 2_001 } }),
      409,
      'idempotency_mismatch',
    );
    const stepUp = await t.call('POST', path, { auth: w.processor, body: { increment_id: 'big', amount: 5_000 } });
    ok(stepUp, 200, 'IncrementDecision');
    assert.equal([stepUp.body.action, stepUp.body.reason_codes], ['DENY', ['step_up_required']]);
    expectError(
      await t.call('POST', path, { auth: w.enterprise, body: { increment_id: 'e', amount: 1 } }),
      403,
      'forbidden',
    );
    expectError(
      await t.call('POST', path, { auth: other.processor, body: { increment_id: 'o', amount: 1 } }),
      404,
      'not_found',
    );
    expectError(await t.call('POST', path, { auth: w.processor, body: { amount: 1 } }), 422, 'validation_failed');
    const captured = await t.call('POST', `/v1/authorizations/${first.body.authorization_id}/capture`, {
      auth: w.processor,
      body: { amount: 9_500 },
    });
    ok(captured, 200, 'Authorization');
    assert.equal(
      [captured.body.status, captured.body.approved_amount, captured.body.captured_amount],
      ['captured', 10_000, 9_500],
    );
    expectError(
      await t.call('POST', path, { auth: w.processor, body: { increment_id: 'late', amount: 1 } }),
      409,
      'invalid_state',
    );
  },
);

api('hold_period_seconds is validated; the OpenAPI document lists the routes', async () => {
  const agent = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'short' } });
  expectError(
    await t.call('POST', '/v1/authorities', {
      auth: w.enterprise,
      body: { agent_id: agent.body.id, currency: 'USD', hold_period_seconds: 60 },
    }),
    422,
    'validation_failed',
  );
  const doc = (await t.call('GET', '/openapi.json')).body;
  for (const path of [
    '/v1/approvals',
    '/v1/approvals/{id}',
    '/v1/approvals/{id}/approve',
    '/v1/approvals/{id}/decline',
    '/v1/approvals/{id}/link',
    '/v1/approval-links/{token}',
    '/v1/authorizations/{id}/increment',
  ]) {
    assert.ok(doc.paths[path], path);
  }
  assert.ok(
    doc.paths['/v1/authorizations/{id}'].get.parameters.some((p: { name: string }) => p.name === 'processor_id'),
  );
});

api.run();
