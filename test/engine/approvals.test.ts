import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryStores } from '../../adapters/memory/index.js';
import type { AuditEvent } from '../../src/audit/types.js';
import { verifyJws } from '../../src/crypto/index.js';
import { createEngine } from '../../src/engine/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import type { ReplayReport } from '../../src/storage/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { rejectsWithCode } from '../support/assert-rejects.js';
import { defaultPolicy, type Fixture, makeFixture } from '../support/engine-fixture.js';
import { bundleFrom } from '../support/policy-bundle.js';

const approvals = suite('human approval of STEP_UP');

/** A fixture whose authority steps up above 10,000. */
function stepUpFixture(authority: Record<string, unknown> = {}): Promise<Fixture> {
  return makeFixture({ authority: { step_up_above: 10_000, ...authority } });
}

async function stepUp(f: Fixture, amount = 20_000, overrides: Record<string, unknown> = {}) {
  const req = f.request({ amount, ...overrides });
  const decision = await f.engine.authorize(f.processor.id, req);
  assert.is(decision.action, 'STEP_UP');
  return { req, decision, approvalId: decision.approval_id as string };
}

async function spentToday(f: Fixture): Promise<number> {
  return (await f.engine.getAuthorityUsage(f.org.id, f.authority.id)).windows.daily.spent;
}

async function events(f: Fixture, type: string): Promise<AuditEvent[]> {
  await f.engine.audit.chainer.drain();
  return f.store.listAuditEvents(f.org.id, { limit: 1000, type });
}

approvals('a STEP_UP opens a pending approval in the same write as its decision, announced once', async () => {
  const f = await stepUpFixture();
  const { req, decision, approvalId } = await stepUp(f);
  assert.match(approvalId, /^apr_/);
  assert.is(decision.approval_expires_at, '2026-11-24T10:00:00.000Z', '24 hours by default');
  const proof = verifyJws(decision.proof, f.engine.jwks());
  assert.ok(proof.ok);
  assert.is(proof.ok && proof.payload.approval_id, approvalId, 'the approval id is signed');
  const view = await f.engine.getApproval(f.org.id, approvalId);
  assert.is(view.status, 'pending');
  assert.is(view.amount, 20_000);
  assert.is(view.authorization_id, req.authorization_id);
  assert.equal(view.reason_codes, ['step_up_required']);
  // A replay of the stepped-up id answers the stored decision: no second approval.
  const replay = await f.engine.authorize(f.processor.id, req);
  assert.is(replay.approval_id, approvalId);
  assert.is((await f.engine.listApprovals(f.org.id)).items.length, 1);
  const requested = await events(f, 'approval.requested');
  assert.is(requested.length, 1);
  assert.is(requested[0]?.subject.id, approvalId);
  assert.is((await events(f, 'authorization.step_up')).length, 1);
});

approvals('approved for less: one authorization up to that amount, then approval_already_used', async () => {
  const f = await stepUpFixture();
  const { approvalId } = await stepUp(f);
  await rejectsWithCode(f.engine.approveApproval(f.org.id, approvalId, { amount: 20_001 }), 'validation_failed');
  const approved = await f.engine.approveApproval(f.org.id, approvalId, { amount: 15_000, note: 'ok' }, 'key_1');
  assert.is(approved.status, 'approved');
  assert.is(approved.approved_amount, 15_000);
  assert.is(approved.decided_by, 'key_1');
  // Approving again the same way changes nothing; declining now is refused.
  assert.is((await f.engine.approveApproval(f.org.id, approvalId, { amount: 15_000 })).status, 'approved');
  await rejectsWithCode(f.engine.declineApproval(f.org.id, approvalId), 'invalid_state');

  const over = await f.engine.authorize(f.processor.id, f.request({ amount: 15_001, approval_id: approvalId }));
  assert.equal(over.reason_codes, ['approval_amount_exceeded']);
  const used = f.request({ amount: 14_000, approval_id: approvalId });
  const ok = await f.engine.authorize(f.processor.id, used);
  assert.is(ok.action, 'ALLOW');
  assert.equal(ok.reason_codes, ['human_approved']);
  assert.is(ok.approval_id, approvalId);
  assert.is(ok.approved_amount, 14_000);
  assert.is(await spentToday(f), 14_000);
  const view = await f.engine.getApproval(f.org.id, approvalId);
  assert.is(view.status, 'used');
  assert.equal(view.used_by, { processor_id: f.processor.id, authorization_id: used.authorization_id });
  // The same authorization replayed gets its decision; a new one is refused.
  assert.is((await f.engine.authorize(f.processor.id, used)).decision_id, ok.decision_id);
  const again = await f.engine.authorize(f.processor.id, f.request({ amount: 100, approval_id: approvalId }));
  assert.equal(again.reason_codes, ['approval_already_used']);
  assert.is(await spentToday(f), 14_000);
  assert.is((await events(f, 'approval.approved')).length, 1);
  assert.is((await events(f, 'approval.used')).length, 1);
});

approvals('pending, declined, expired, unknown and mismatched approvals get distinct reasons', async () => {
  const f = await stepUpFixture({ limits: { per_transaction: 50_000, daily: 100_000 } });
  const pending = await stepUp(f);
  const named = (id: string, o: Record<string, unknown> = {}) =>
    f.engine.authorize(f.processor.id, f.request({ amount: 20_000, approval_id: id, ...o }));
  assert.equal((await named(pending.approvalId)).reason_codes, ['approval_pending']);
  assert.equal((await named('apr_0000000000unknown')).reason_codes, ['approval_not_found']);

  const declined = await stepUp(f);
  const d = await f.engine.declineApproval(f.org.id, declined.approvalId, { note: 'no' });
  assert.is(d.status, 'declined');
  assert.equal((await named(declined.approvalId)).reason_codes, ['approval_declined']);

  const merchant = await stepUp(f);
  await f.engine.approveApproval(f.org.id, merchant.approvalId);
  const otherShop = { id: 'mer_other', name: 'Other', mcc: '5734', country: 'US' };
  assert.equal((await named(merchant.approvalId, { merchant: otherShop })).reason_codes, [
    'approval_merchant_mismatch',
  ]);
  assert.equal(
    (await named(merchant.approvalId, { currency: 'EUR' })).reason_codes.includes('approval_amount_exceeded'),
    true,
  );

  const expiring = await stepUp(f);
  await f.engine.approveApproval(f.org.id, expiring.approvalId);
  f.clock.advance(24 * 3600 * 1000);
  assert.equal((await named(expiring.approvalId)).reason_codes, ['approval_expired']);
  assert.is((await f.engine.getApproval(f.org.id, expiring.approvalId)).status, 'expired', 'derived on read');
  await rejectsWithCode(f.engine.approveApproval(f.org.id, pending.approvalId), 'invalid_state');
  assert.is(await spentToday(f), 0);
});

approvals('another agent of the org, and another org, cannot use an approval', async () => {
  const f = await stepUpFixture();
  const { approvalId } = await stepUp(f);
  await f.engine.approveApproval(f.org.id, approvalId);
  const agent2 = await f.engine.createAgent(f.org.id, { name: 'second' });
  const authority2 = await f.engine.createAuthority(f.org.id, { agent_id: agent2.id, currency: 'USD' });
  await f.engine.createBinding(f.org.id, {
    agent_id: agent2.id,
    authority_id: authority2.id,
    processor_id: f.processor.id,
    credential: { type: 'network_token', reference: 'tok_second_agent' },
  });
  const byOther = await f.engine.authorize(
    f.processor.id,
    f.request({ amount: 20_000, approval_id: approvalId, credential_reference: 'tok_second_agent' }),
  );
  assert.equal(byOther.reason_codes, ['approval_agent_mismatch']);

  const org2 = await f.engine.createOrg({ name: 'Other' });
  await rejectsWithCode(f.engine.getApproval(org2.id, approvalId), 'not_found');
  await rejectsWithCode(f.engine.approveApproval(org2.id, approvalId), 'not_found');
  const agent3 = await f.engine.createAgent(org2.id, { name: 'third' });
  const authority3 = await f.engine.createAuthority(org2.id, { agent_id: agent3.id, currency: 'USD' });
  await f.engine.createBinding(org2.id, {
    agent_id: agent3.id,
    authority_id: authority3.id,
    processor_id: f.processor.id,
    credential: { type: 'network_token', reference: 'tok_other_org' },
  });
  const otherOrg = await f.engine.authorize(
    f.processor.id,
    f.request({ amount: 20_000, approval_id: approvalId, credential_reference: 'tok_other_org' }),
  );
  assert.equal(otherOrg.reason_codes, ['approval_not_found']);
  assert.is((await f.engine.getApproval(f.org.id, approvalId)).status, 'approved', 'still usable by its agent');
});

approvals('of concurrent authorizations naming one approval exactly one is approved', async () => {
  // Windows wide enough for all of them: only the approval stands between them.
  const f = await stepUpFixture({ limits: { daily: 1_000_000, weekly: 1_000_000, monthly: 1_000_000 } });
  const { approvalId } = await stepUp(f);
  await f.engine.approveApproval(f.org.id, approvalId);
  const decisions = await Promise.all(
    Array.from({ length: 12 }, () =>
      f.engine.authorize(f.processor.id, f.request({ amount: 20_000, approval_id: approvalId })),
    ),
  );
  const allowed = decisions.filter((d) => d.allowed);
  assert.is(allowed.length, 1, `approved ${allowed.length} times`);
  for (const d of decisions) if (!d.allowed) assert.equal(d.reason_codes, ['approval_already_used']);
  assert.is(await spentToday(f), 20_000, 'only the winner holds budget');
});

approvals('an approval cannot spend past the windows: a human cannot approve an overspend', async () => {
  const f = await stepUpFixture({ limits: { per_transaction: 50_000, daily: 30_000 } });
  await f.engine.authorize(f.processor.id, f.request({ amount: 9_000 }));
  const { approvalId } = await stepUp(f, 20_000);
  await f.engine.approveApproval(f.org.id, approvalId);
  await f.engine.authorize(f.processor.id, f.request({ amount: 5_000 }));
  const over = await f.engine.authorize(f.processor.id, f.request({ amount: 20_000, approval_id: approvalId }));
  assert.is(over.action, 'DENY');
  assert.equal(over.reason_codes, ['daily_limit_exceeded']);
  assert.is((await f.engine.getApproval(f.org.id, approvalId)).status, 'approved', 'not used by a declined payment');
  await f.engine.updateAuthority(f.org.id, f.authority.id, { limits: { per_transaction: 11_000 } });
  const capped = await f.engine.authorize(f.processor.id, f.request({ amount: 12_000, approval_id: approvalId }));
  assert.equal(capped.reason_codes, ['per_transaction_limit_exceeded']);
  await f.engine.updateAuthority(f.org.id, f.authority.id, { limits: { per_transaction: 50_000 } });
  const fits = await f.engine.authorize(f.processor.id, f.request({ amount: 12_000, approval_id: approvalId }));
  assert.is(fits.action, 'ALLOW');
  assert.is(await spentToday(f), 26_000);
});

approvals('a signed one-time link shows the approval and decides it once', async () => {
  const f = await stepUpFixture();
  const { approvalId } = await stepUp(f);
  const first = await f.engine.createApprovalLink(f.org.id, approvalId, { ttl_seconds: 600 });
  const link = await f.engine.createApprovalLink(f.org.id, approvalId);
  assert.is(link.expires_at, '2026-11-23T11:00:00.000Z');
  assert.is(link.path, `/v1/approval-links/${link.token}`);
  await rejectsWithCode(f.engine.readApprovalLink(first.token), 'approval_link_invalid');
  const shown = await f.engine.readApprovalLink(link.token);
  assert.is(shown.id, approvalId);
  assert.is(shown.amount, 20_000);
  // The signature's first character carries six whole bits (its last one only two): changing it always
  // changes the signed bytes.
  const sigAt = link.token.lastIndexOf('.') + 1;
  const tampered = `${link.token.slice(0, sigAt)}${link.token[sigAt] === 'A' ? 'B' : 'A'}${link.token.slice(sigAt + 1)}`;
  assert.is.not(tampered, link.token);
  await rejectsWithCode(f.engine.readApprovalLink(tampered), 'approval_link_invalid');
  await rejectsWithCode(f.engine.decideApprovalLink(link.token, { decision: 'maybe' }), 'validation_failed');
  const decided = await f.engine.decideApprovalLink(link.token, { decision: 'approve', amount: 18_000 });
  assert.is(decided.status, 'approved');
  assert.is(decided.approved_amount, 18_000);
  assert.is(decided.decided_by, `link:${link.link_id}`);
  await rejectsWithCode(f.engine.decideApprovalLink(link.token, { decision: 'decline' }), 'approval_link_used');
  await rejectsWithCode(f.engine.readApprovalLink(link.token), 'approval_link_used');
  await rejectsWithCode(f.engine.createApprovalLink(f.org.id, approvalId), 'invalid_state');
  const [approvedEvent] = await events(f, 'approval.approved');
  assert.is(approvedEvent?.actor, `link:${link.link_id}`);
  assert.is(approvedEvent?.payload.link_id, link.link_id);
});

approvals('an approval link expires', async () => {
  const f = await stepUpFixture();
  const { approvalId } = await stepUp(f);
  const link = await f.engine.createApprovalLink(f.org.id, approvalId, { ttl_seconds: 60 });
  f.clock.advance(60_000);
  await rejectsWithCode(f.engine.readApprovalLink(link.token), 'approval_link_expired');
  await rejectsWithCode(f.engine.decideApprovalLink(link.token, { decision: 'approve' }), 'approval_link_expired');
  assert.is((await f.engine.getApproval(f.org.id, approvalId)).status, 'pending');
});

approvals('expireApprovals marks pending and approved approvals past expiry, once, with approval.expired', async () => {
  const f = await stepUpFixture();
  const a = await stepUp(f);
  const b = await stepUp(f);
  await f.engine.approveApproval(f.org.id, b.approvalId);
  const c = await stepUp(f);
  await f.engine.declineApproval(f.org.id, c.approvalId);
  assert.is(await f.engine.expireApprovals(), 0);
  f.clock.advance(24 * 3600 * 1000);
  assert.is(await f.engine.expireApprovals(), 2);
  assert.is(await f.engine.expireApprovals(), 0, 'nothing twice');
  assert.is((await f.engine.getApproval(f.org.id, a.approvalId)).status, 'expired');
  assert.is((await f.engine.getApproval(f.org.id, c.approvalId)).status, 'declined');
  const expired = await events(f, 'approval.expired');
  assert.equal(expired.map((e) => e.subject.id).sort(), [a.approvalId, b.approvalId].sort());
  assert.equal(
    (await f.engine.listApprovals(f.org.id, { status: 'expired' })).items.map((v) => v.id).sort(),
    [a.approvalId, b.approvalId].sort(),
  );
});

approvals('shadow and replay keep a human approval as decided: the policy input does not carry it', async () => {
  const stores = createMemoryStores();
  const clock = new ManualClock('2026-11-23T10:00:00.000Z');
  const base = await defaultPolicy();
  const divergences: string[] = [];
  // An org candidate that allows everything layered on the base decides what the base does: any
  // divergence would be the approval's.
  const allowAll = await loadPolicy(
    await bundleFrom(
      {
        'spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
        'intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
      },
      'rev-allow-all',
    ),
  );
  const engine = createEngine({
    store: stores.store,
    policy: { forOrg: () => ({ active: base, shadow: null, org: null, orgShadow: allowAll }) },
    clock,
    analysis: { storage: stores.policyAnalysis, onDivergence: (t) => divergences.push(t) },
  });
  await engine.init();
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'P' });
  const agent = await engine.createAgent(org.id, { name: 'buyer' });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    step_up_above: 10_000,
  });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'card', reference: 'tok_1' },
  });
  let n = 0;
  const pay = (amount: number, approvalId?: string) =>
    engine.authorize(processor.id, {
      authorization_id: `pa_${++n}`,
      credential_reference: 'tok_1',
      amount,
      currency: 'USD',
      merchant: { id: 'mer_1', mcc: '5734', country: 'US' },
      ...(approvalId ? { approval_id: approvalId } : {}),
    });
  const stepped = await pay(20_000);
  const approvalId = stepped.approval_id as string;
  await engine.approveApproval(org.id, approvalId);
  assert.equal((await pay(15_000, approvalId)).reason_codes, ['human_approved']);
  assert.equal((await pay(15_000, approvalId)).reason_codes, ['approval_already_used']);
  await engine.policyAnalysis.flushShadow();
  assert.equal(divergences, []);
  const res = await engine.policyAnalysis.replay(
    org.id,
    { base, candidate: allowAll },
    { from: '2026-11-23T09:00:00.000Z', to: '2026-11-23T11:00:00.000Z', limit: null },
  );
  assert.ok('report' in res);
  const report = (res as { report: ReplayReport }).report;
  assert.is(report.replayed, 3);
  assert.is(report.changed, 0, JSON.stringify(report.transitions));
  await engine.close();
});

approvals.run();

const holds = suite('hold period per authority, enterprise reads by id');

holds('an authority hold_period_seconds sets the hold of its approvals; bounded', async () => {
  const f = await makeFixture({ authority: { hold_period_seconds: 3600 } });
  assert.is(f.authority.hold_period_seconds, 3600);
  const d = await f.engine.authorize(f.processor.id, f.request({ amount: 1_000 }));
  assert.is(d.expires_at, '2026-11-23T11:00:00.000Z');
  f.clock.advance(3599_000);
  assert.is(await f.engine.expireHolds(), 0);
  f.clock.advance(1_000);
  assert.is(await f.engine.expireHolds(), 1);
  for (const bad of [3599, 31 * 24 * 3600 + 1, 1.5, '3600']) {
    await rejectsWithCode(
      f.engine.createAuthority(f.org.id, { agent_id: f.agent.id, currency: 'USD', hold_period_seconds: bad }),
      'validation_failed',
    );
  }
  const back = await f.engine.updateAuthority(f.org.id, f.authority.id, { hold_period_seconds: null });
  assert.is(back.hold_period_seconds, null);
  const d2 = await f.engine.authorize(f.processor.id, f.request({ amount: 1_000 }));
  assert.is(d2.expires_at, '2026-11-30T11:00:00.000Z', "the server's 7 days");
});

holds(
  "an enterprise reads its org's authorization by id, never another org's; ambiguous ids need processor_id",
  async () => {
    const f = await makeFixture();
    const req = f.request({ authorization_id: 'pa_shared' });
    await f.engine.authorize(f.processor.id, req);
    const view = await f.engine.getOrgAuthorization(f.org.id, 'pa_shared');
    assert.is(view.processor_id, f.processor.id);
    assert.is(view.status, 'approved');
    const org2 = await f.engine.createOrg({ name: 'Other' });
    await rejectsWithCode(f.engine.getOrgAuthorization(org2.id, 'pa_shared'), 'not_found');
    await rejectsWithCode(
      f.engine.getOrgAuthorization(org2.id, 'pa_shared', { processor_id: f.processor.id }),
      'not_found',
    );
    await rejectsWithCode(f.engine.getOrgAuthorization(f.org.id, 'pa_missing'), 'not_found');
    // A second processor of the org uses the same authorization id.
    const p2 = await f.engine.createProcessor({ name: 'Processor Two' });
    await f.engine.createBinding(f.org.id, {
      agent_id: f.agent.id,
      authority_id: f.authority.id,
      processor_id: p2.id,
      credential: { type: 'network_token', reference: 'tok_p2' },
    });
    await f.engine.authorize(p2.id, f.request({ authorization_id: 'pa_shared', credential_reference: 'tok_p2' }));
    const err = await rejectsWithCode(f.engine.getOrgAuthorization(f.org.id, 'pa_shared'), 'authorization_ambiguous');
    assert.equal((err.details as { processor_ids: string[] }).processor_ids.sort(), [f.processor.id, p2.id].sort());
    assert.is((await f.engine.getOrgAuthorization(f.org.id, 'pa_shared', { processor_id: p2.id })).processor_id, p2.id);
    await rejectsWithCode(
      f.engine.getOrgAuthorization(f.org.id, 'pa_shared', { processor_id: 'bad id' }),
      'validation_failed',
    );
  },
);

holds.run();
