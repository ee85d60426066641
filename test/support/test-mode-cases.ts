import * as assert from 'uvu/assert';
import {
  authorizeBody,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  type TestApp,
  type TestCredential,
  type World,
} from './http-app.js';

/** The claims of a compact JWS, unverified (the test checks what a decision's proof signs). */
function jwsClaims(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString('utf8'));
}

/**
 * Live and test mode on one app: a test credential sees and changes test data only, test spend leaves live
 * budgets alone, decisions carry a signed livemode, and each mode's audit chain verifies on its own.
 * `settle` awaits the app's background audit chaining.
 */
export async function runTestModeScenario(t: TestApp, settle: () => Promise<unknown>): Promise<void> {
  const live = await makeWorld(t, 'Modes');
  const liveSpend = await setupSpending(live, { per_transaction: 50_000, daily: 100_000 });

  // The operator mints test credentials for the same org and processor.
  const ent = await t.call('POST', `/v1/orgs/${live.orgId}/credentials`, {
    auth: OPERATOR_CRED,
    body: { name: 'sandbox', mode: 'test' },
  });
  assert.is(ent.status, 201, ent.text);
  assert.match(ent.body.key_id, /^ek_test_[0-9a-z]+$/);
  assert.match(ent.body.secret, /^sk_test_/);
  assert.is(ent.body.livemode, false);
  const testOrgId = ent.body.owner_id as string;
  assert.is(testOrgId, live.orgId.replace(/^org_/, 'orgtest_'));
  const prc = await t.call('POST', `/v1/processors/${live.processorId}/credentials`, {
    auth: OPERATOR_CRED,
    body: { mode: 'test' },
  });
  assert.is(prc.status, 201, prc.text);
  assert.match(prc.body.key_id, /^pk_test_/);
  // Live credentials say so too.
  assert.match(live.enterprise.key_id, /^ek_live_/);
  const testEnt: TestCredential = ent.body;
  const testPrc: TestCredential = prc.body;

  // A test credential cannot read or change a live object: 404, as for another org's.
  for (const [method, path, body] of [
    ['GET', `/v1/agents/${liveSpend.agentId}`, undefined],
    ['PATCH', `/v1/agents/${liveSpend.agentId}`, { name: 'hijacked' }],
    ['GET', `/v1/authorities/${liveSpend.authorityId}/usage`, undefined],
    ['GET', `/v1/bindings/${liveSpend.bindingId}`, undefined],
  ] as const) {
    const res = await t.call(method, path, { auth: testEnt, ...(body ? { body } : {}) });
    assert.is(res.status, 404, `${method} ${path}: ${res.text}`);
    assert.is(res.body.error.code, 'not_found');
  }
  const listed = await t.call('GET', '/v1/agents', { auth: testEnt });
  assert.is(listed.status, 200, listed.text);
  assert.equal(listed.body.items, []);

  // The test world: its own agent, authority and a binding of the very same card reference, to the
  // processor named by its usual id.
  const testWorld: World = {
    t,
    orgId: testOrgId,
    processorId: live.processorId,
    enterprise: testEnt,
    processor: testPrc,
  };
  const testSpend = await setupSpending(testWorld, { per_transaction: 50_000, daily: 100_000 });
  const sameCard = await t.call('POST', '/v1/bindings', {
    auth: testEnt,
    body: {
      agent_id: testSpend.agentId,
      authority_id: testSpend.authorityId,
      processor_id: live.processorId,
      credential: { type: 'network_token', reference: liveSpend.reference, last4: '4242' },
    },
  });
  assert.is(sameCard.status, 201, sameCard.text);
  assert.is(sameCard.body.org_id, testOrgId);
  // Every object says which mode it belongs to.
  assert.is(sameCard.body.livemode, false);
  const testAgent = await t.call('GET', `/v1/agents/${testSpend.agentId}`, { auth: testEnt });
  assert.is(testAgent.body.livemode, false, testAgent.text);
  const liveAgent = await t.call('GET', `/v1/agents/${liveSpend.agentId}`, { auth: live.enterprise });
  assert.is(liveAgent.body.livemode, true, liveAgent.text);
  const testAgents = await t.call('GET', '/v1/agents', { auth: testEnt });
  assert.equal(
    testAgents.body.items.map((a: { livemode: boolean }) => a.livemode),
    [false],
  );

  // Test spend on the shared reference decides in test mode and leaves the live budget alone.
  const testDecision = await t.call('POST', '/v1/authorize', {
    auth: testPrc,
    body: authorizeBody(liveSpend.reference, { amount: 30_000 }),
  });
  assert.is(testDecision.status, 200, testDecision.text);
  assert.is(testDecision.body.action, 'ALLOW', testDecision.text);
  assert.is(testDecision.body.livemode, false);
  assert.is(testDecision.body.org_id, testOrgId);
  assert.is(testDecision.body.authority_id, testSpend.authorityId);
  assert.is(jwsClaims(testDecision.body.proof).livemode, false);
  const liveUsage = await t.call('GET', `/v1/authorities/${liveSpend.authorityId}/usage`, { auth: live.enterprise });
  assert.is(liveUsage.status, 200, liveUsage.text);
  assert.is(liveUsage.body.windows.daily.spent, 0);
  const testUsage = await t.call('GET', `/v1/authorities/${testSpend.authorityId}/usage`, { auth: testEnt });
  assert.is(testUsage.body.windows.daily.spent, 30_000);

  const liveDecision = await t.call('POST', '/v1/authorize', {
    auth: live.processor,
    body: authorizeBody(liveSpend.reference, { amount: 1_000 }),
  });
  assert.is(liveDecision.status, 200, liveDecision.text);
  assert.is(liveDecision.body.livemode, true);
  assert.is(jwsClaims(liveDecision.body.proof).livemode, true);
  assert.is(liveDecision.body.authority_id, liveSpend.authorityId);

  // Neither processor credential reaches the other world's bindings, by reference or by id.
  const liveOnly = await setupSpending(live);
  const crossRef = await t.call('POST', '/v1/authorize', { auth: testPrc, body: authorizeBody(liveOnly.reference) });
  assert.is(crossRef.status, 200, crossRef.text);
  assert.is(crossRef.body.action, 'DENY');
  assert.equal(crossRef.body.reason_codes, ['binding_not_found']);
  assert.is(crossRef.body.livemode, false);
  const byLiveId = await t.call('POST', '/v1/authorize', {
    auth: testPrc,
    body: { ...authorizeBody(''), credential_reference: undefined, binding_id: liveSpend.bindingId },
  });
  assert.is(byLiveId.status, 200, byLiveId.text);
  assert.is(byLiveId.body.action, 'DENY');
  assert.is(byLiveId.body.org_id, null);
  const byTestId = await t.call('POST', '/v1/authorize', {
    auth: live.processor,
    body: { ...authorizeBody(''), credential_reference: undefined, binding_id: sameCard.body.id },
  });
  assert.is(byTestId.body.action, 'DENY');
  assert.is(byTestId.body.org_id, null);
  // A live org cannot bind a card to a processor's test twin.
  const liveToTest = await t.call('POST', '/v1/bindings', {
    auth: live.enterprise,
    body: {
      agent_id: liveSpend.agentId,
      authority_id: liveSpend.authorityId,
      processor_id: live.processorId.replace(/^prc_/, 'prctest_'),
      credential: { type: 'network_token', reference: 'tok_elsewhere', last4: '4242' },
    },
  });
  assert.is(liveToTest.status, 404, liveToTest.text);

  // A processor's test twin is made on first use: an org binds test cards before the processor has test keys.
  const later = await t.call('POST', '/v1/processors', { auth: OPERATOR_CRED, body: { name: 'Later Pay' } });
  const early = await t.call('POST', '/v1/bindings', {
    auth: testEnt,
    body: {
      agent_id: testSpend.agentId,
      authority_id: testSpend.authorityId,
      processor_id: later.body.id,
      credential: { type: 'network_token', reference: 'tok_early', last4: '4242' },
    },
  });
  assert.is(early.status, 201, early.text);
  assert.is(early.body.processor_id, later.body.id.replace(/^prc_/, 'prctest_'));

  // Credentials: a test credential mints test ones only; a session exchanged from it stays in test mode.
  const minted = await t.call('POST', '/v1/credentials', { auth: testEnt, body: {} });
  assert.is(minted.status, 201, minted.text);
  assert.match(minted.body.key_id, /^ek_test_/);
  const escalate = await t.call('POST', '/v1/credentials', { auth: testEnt, body: { mode: 'live' } });
  assert.is(escalate.status, 403, escalate.text);
  assert.is(escalate.body.error.code, 'forbidden');
  const opened = await t.call('POST', '/v1/credentials', { auth: live.enterprise, body: { mode: 'test' } });
  assert.is(opened.status, 201, opened.text);
  assert.is(opened.body.owner_id, testOrgId);
  const session = await t.call('POST', '/v1/auth/token', {
    body: { key_id: minted.body.key_id, secret: minted.body.secret },
  });
  const sessionAgents = await t.call('GET', '/v1/agents', { auth: session.body.access_token });
  assert.equal(
    sessionAgents.body.items.map((a: { id: string }) => a.id),
    [testSpend.agentId],
  );
  const liveCreds = (await t.call('GET', '/v1/credentials', { auth: live.enterprise })).body.items;
  assert.ok(
    liveCreds.every((c: { livemode: boolean }) => c.livemode === true),
    'a test credential in the live list',
  );

  // Each mode has its own audit chain; both verify, and neither holds the other's decisions.
  await settle();
  const liveAudit = await t.call('GET', '/v1/audit?limit=1000', { auth: live.enterprise });
  const testAudit = await t.call('GET', '/v1/audit?limit=1000', { auth: testEnt });
  const ids = (r: typeof liveAudit) => r.body.items.map((e: { id: string }) => e.id) as string[];
  assert.ok(ids(testAudit).includes(testDecision.body.audit_event_id));
  assert.not.ok(ids(liveAudit).includes(testDecision.body.audit_event_id));
  assert.ok(ids(liveAudit).includes(liveDecision.body.audit_event_id));
  assert.ok(
    testAudit.body.items.every((e: { org_id: string; livemode: boolean }) => e.org_id === testOrgId && !e.livemode),
  );
  assert.ok(liveAudit.body.items.every((e: { livemode: boolean }) => e.livemode));
  for (const cred of [live.enterprise, testEnt]) {
    const verified = await t.call('GET', '/v1/audit/verify', { auth: cred });
    assert.is(verified.status, 200, verified.text);
    assert.is(verified.body.ok, true, verified.text);
    assert.ok(verified.body.checked > 0);
  }
}
