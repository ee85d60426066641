import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyJws } from '../../src/crypto/index.js';
import {
  authorizeBody,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type TestResponse,
  type World,
} from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

function expectQuota(res: TestResponse, resource: string, quota: number, used: number, resetsAt: string | null): void {
  assert.is(res.status, 402, res.text);
  assert.is(res.body.error.code, 'quota_exceeded');
  assert.equal(res.body.error.details, { resource, quota, used, resets_at: resetsAt });
  assertMatches('ErrorResponse', res.body);
}

function nextMonthStart(now = new Date()): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString();
}

const PLAN = { decisions_per_month: 3, agents: 2, webhooks: 1 };

let t: TestApp;
let w: World;

const q = suite('quotas over HTTP');
q.before(async () => {
  t = await startTestApp({
    memoryWebhooks: true,
    webhookConfig: { allowPrivateTargets: true, allowHttp: true },
  });
  await t.app.services.webhooks.stop();
  w = await makeWorld(t);
});
q.after(async () => {
  await t.close();
});

q('the operator sets a plan; the org reads its usage; other roles and bad plans are refused', async () => {
  const none = await t.call('GET', '/v1/usage', { auth: w.enterprise });
  assert.is(none.status, 200, none.text);
  assertMatches('OrgUsage', none.body);
  assert.equal(none.body.plan, { decisions_per_month: null, agents: null, webhooks: null });

  const set = await t.call('PUT', `/v1/orgs/${w.orgId}/plan`, { auth: OPERATOR_CRED, body: PLAN });
  assert.is(set.status, 200, set.text);
  assertMatches('OrgUsage', set.body);
  assert.equal(set.body.plan, PLAN);

  const usage = await t.call('GET', '/v1/usage', { auth: w.enterprise });
  assert.equal(usage.body.plan, PLAN);
  assert.equal(usage.body.agents, { quota: 2, used: 0 });
  assert.equal(usage.body.decisions.quota, 3);
  assert.is(usage.body.decisions.resets_at, nextMonthStart());
  assert.is(usage.body.period, new Date().toISOString().slice(0, 7));
  const asOperator = await t.call('GET', `/v1/orgs/${w.orgId}/usage`, { auth: OPERATOR_CRED });
  assert.equal(asOperator.body.plan, PLAN);

  const byOrg = await t.call('PUT', `/v1/orgs/${w.orgId}/plan`, { auth: w.enterprise, body: PLAN });
  assert.is(byOrg.status, 403, byOrg.text);
  const unknown = await t.call('PUT', '/v1/orgs/org_0000000000nothere/plan', { auth: OPERATOR_CRED, body: PLAN });
  assert.is(unknown.status, 404, unknown.text);
  for (const bad of [
    { ...PLAN, agents: -1 },
    { agents: 1, webhooks: 1 },
    { ...PLAN, agents: 1.5 },
    { ...PLAN, x: 1 },
  ]) {
    const res = await t.call('PUT', `/v1/orgs/${w.orgId}/plan`, { auth: OPERATOR_CRED, body: bad });
    assert.is(res.status, 422, res.text);
    assert.is(res.body.error.code, 'validation_failed');
  }
});

q('agents past the plan are 402 quota_exceeded; revoking one frees its place', async () => {
  const a1 = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'a1' } });
  const a2 = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'a2' } });
  assert.is(a1.status, 201, a1.text);
  assert.is(a2.status, 201, a2.text);
  expectQuota(await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'a3' } }), 'agents', 2, 2, null);
  const revoked = await t.call('POST', `/v1/agents/${a1.body.id}/revoke`, { auth: w.enterprise });
  assert.is(revoked.status, 200, revoked.text);
  // Revoking again changes nothing and gives nothing back twice.
  assert.is((await t.call('POST', `/v1/agents/${a1.body.id}/revoke`, { auth: w.enterprise })).status, 200);
  assert.equal((await t.call('GET', '/v1/usage', { auth: w.enterprise })).body.agents, { quota: 2, used: 1 });
  const a3 = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'a3' } });
  assert.is(a3.status, 201, a3.text);
  expectQuota(await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'a4' } }), 'agents', 2, 2, null);
});

q('concurrent agent creations never pass the plan', async () => {
  const other = await makeWorld(t, 'Race');
  const set = await t.call('PUT', `/v1/orgs/${other.orgId}/plan`, {
    auth: OPERATOR_CRED,
    body: { decisions_per_month: null, agents: 5, webhooks: null },
  });
  assert.is(set.status, 200, set.text);
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      t.call('POST', '/v1/agents', { auth: other.enterprise, body: { name: `bot-${i}` } }),
    ),
  );
  assert.is(results.filter((r) => r.status === 201).length, 5);
  assert.is(results.filter((r) => r.status === 402).length, 35);
  const list = await t.call('GET', '/v1/agents?limit=100', { auth: other.enterprise });
  assert.is(list.body.items.length, 5);
  assert.equal((await t.call('GET', '/v1/usage', { auth: other.enterprise })).body.agents, { quota: 5, used: 5 });
});

q('webhook endpoints past the plan are 402; deleting one frees its place', async () => {
  const body = { url: 'http://127.0.0.1:9/hook', events: ['*'] };
  const first = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body });
  assert.is(first.status, 201, first.text);
  expectQuota(await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body }), 'webhooks', 1, 1, null);
  assert.is((await t.call('DELETE', `/v1/webhooks/${first.body.id}`, { auth: w.enterprise })).status, 200);
  assert.is((await t.call('DELETE', `/v1/webhooks/${first.body.id}`, { auth: w.enterprise })).status, 404);
  assert.equal((await t.call('GET', '/v1/usage', { auth: w.enterprise })).body.webhooks, { quota: 1, used: 0 });
  const again = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body });
  assert.is(again.status, 201, again.text);
});

q(
  'past the monthly decisions authorize still answers signed decisions; overage counted, one quota.exceeded event, simulations 402',
  async () => {
    await t.call('PUT', `/v1/orgs/${w.orgId}/plan`, {
      auth: OPERATOR_CRED,
      body: { ...PLAN, agents: null },
    });
    const spend = await setupSpending(w);
    const decisions: TestResponse[] = [];
    for (let i = 0; i < 5; i++) {
      decisions.push(
        await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(spend.reference) }),
      );
    }
    for (const d of decisions) {
      assert.is(d.status, 200, d.text);
      assert.is(d.body.action, 'ALLOW');
      verifyJws(d.body.proof, t.engine.jwks());
    }
    // A replay is the same decision, not another one.
    const replay = await t.call('POST', '/v1/authorize', {
      auth: w.processor,
      body: authorizeBody(spend.reference, { authorization_id: decisions[0]?.body.authorization_id }),
    });
    assert.is(replay.status, 200, replay.text);

    await t.engine.audit.chainer.drain();
    await t.engine.quotas.settled();
    const usage = await t.call('GET', '/v1/usage', { auth: w.enterprise });
    assert.equal(
      [usage.body.decisions.quota, usage.body.decisions.used, usage.body.decisions.overage],
      [3, 5, 2],
      usage.text,
    );
    await t.engine.audit.chainer.drain();
    const events = await t.call('GET', '/v1/audit?type=quota.exceeded', { auth: w.enterprise });
    assert.is(events.status, 200, events.text);
    assert.is(events.body.items.length, 1, events.text);
    assert.equal(events.body.items[0].payload.resource, 'decisions_per_month');
    assert.is(events.body.items[0].payload.quota, 3);
    assert.is(events.body.items[0].payload.enforcement, 'overage_recorded');
    const metrics = await t.call('GET', '/metrics');
    assert.match(metrics.text, /allowance_quota_overages_total [1-9]/);

    const sim = await t.call('POST', '/v1/simulate', {
      auth: w.enterprise,
      body: { type: 'authorization', processor_id: w.processorId, ...authorizeBody(spend.reference) },
    });
    expectQuota(sim, 'decisions_per_month', 3, 5, nextMonthStart());

    // Raising the plan lets simulations through again; authorize was never refused.
    await t.call('PUT', `/v1/orgs/${w.orgId}/plan`, {
      auth: OPERATOR_CRED,
      body: { ...PLAN, decisions_per_month: 100 },
    });
    const simOk = await t.call('POST', '/v1/simulate', {
      auth: w.enterprise,
      body: { type: 'authorization', processor_id: w.processorId, ...authorizeBody(spend.reference) },
    });
    assert.is(simOk.status, 200, simOk.text);
  },
);

q('test mode has its own counters: the live plan does not limit the test twin, nor the reverse', async () => {
  const modes = await makeWorld(t, 'Modes');
  await t.call('PUT', `/v1/orgs/${modes.orgId}/plan`, {
    auth: OPERATOR_CRED,
    body: { decisions_per_month: null, agents: 1, webhooks: null },
  });
  const cred = await t.call('POST', `/v1/orgs/${modes.orgId}/credentials`, {
    auth: OPERATOR_CRED,
    body: { name: 'sandbox', mode: 'test' },
  });
  assert.is(cred.status, 201, cred.text);
  const live = await t.call('POST', '/v1/agents', { auth: modes.enterprise, body: { name: 'live-1' } });
  assert.is(live.status, 201, live.text);
  expectQuota(
    await t.call('POST', '/v1/agents', { auth: modes.enterprise, body: { name: 'live-2' } }),
    'agents',
    1,
    1,
    null,
  );
  for (let i = 0; i < 3; i++) {
    const res = await t.call('POST', '/v1/agents', { auth: cred.body, body: { name: `test-${i}` } });
    assert.is(res.status, 201, res.text);
  }
  const testUsage = await t.call('GET', '/v1/usage', { auth: cred.body });
  assert.is(testUsage.status, 200, testUsage.text);
  assertMatches('OrgUsage', testUsage.body);
  assert.equal([testUsage.body.livemode, testUsage.body.plan.agents, testUsage.body.agents.used], [false, null, 3]);
  const liveUsage = await t.call('GET', '/v1/usage', { auth: modes.enterprise });
  assert.equal([liveUsage.body.livemode, liveUsage.body.agents], [true, { quota: 1, used: 1 }]);
});

q('the OpenAPI document lists the plan, usage and 402', async () => {
  const doc = (await t.call('GET', '/openapi.json')).body;
  assert.ok(doc.paths['/v1/orgs/{id}/plan'].put);
  assert.ok(doc.paths['/v1/usage'].get);
  assert.ok(doc.paths['/v1/agents'].post.responses['402']);
  assert.ok(doc.paths['/v1/webhooks'].post.responses['402']);
  assert.ok(doc.components.schemas.OrgPlan);
});

q.run();
