import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuditEvent } from '../../src/audit/index.js';
import { authorizeBody, makeWorld, OPERATOR, setupSpending, startTestApp, type TestApp } from '../support/http-app.js';

const events = suite('audit events of API calls');

let t: TestApp;
events.before(async () => {
  t = await startTestApp();
});
events.after(() => t.close());

async function trail(orgId: string): Promise<AuditEvent[]> {
  await t.app.services.engine.audit.chainer.drain();
  return t.store.listAuditEvents(orgId, { limit: 1000 });
}

events('each change names the credential that made it; secrets and bearer tokens stay out', async () => {
  const w = await makeWorld(t);
  const spend = await setupSpending(w);
  const extra = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { name: 'rotation' } });
  assert.is(extra.status, 201, extra.text);
  await t.call('DELETE', `/v1/credentials/${extra.body.key_id}`, { auth: w.enterprise });
  const token = await t.call('POST', '/v1/tokens', {
    auth: w.enterprise,
    body: { agent_id: spend.agentId, scope: ['purchase'], target_service: 'shop' },
  });
  assert.is(token.status, 201, token.text);
  const revoked = await t.call('POST', '/v1/tokens/revoke', { auth: w.enterprise, body: { token: token.body.token } });
  assert.is(revoked.status, 200, revoked.text);
  const decision = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(spend.reference) });
  assert.is(decision.status, 200, decision.text);
  assert.match(decision.body.audit_event_id, /^evt_/);

  const list = await trail(w.orgId);
  const by = (type: string) => list.filter((e) => e.type === type);
  assert.is(by('org.created')[0]?.actor, OPERATOR.keyId);
  assert.equal(
    by('credential.created').map((e) => [e.subject.id, e.actor]),
    [
      [w.enterprise.key_id, OPERATOR.keyId],
      [extra.body.key_id, w.enterprise.key_id],
    ],
  );
  assert.equal(
    by('credential.revoked').map((e) => [e.subject.id, e.actor]),
    [[extra.body.key_id, w.enterprise.key_id]],
  );
  for (const type of ['agent.created', 'authority.created', 'binding.created', 'token.issued', 'token.revoked']) {
    assert.is(by(type).length, 1, type);
    assert.is(by(type)[0]?.actor, w.enterprise.key_id, type);
    assert.is(by(type)[0]?.agent_id, spend.agentId, type);
  }
  assert.is(by('token.issued')[0]?.subject.id, token.body.jti);
  const approved = by('authorization.approved')[0];
  assert.is(approved?.id, decision.body.audit_event_id);
  assert.is(approved?.actor, w.processor.key_id);
  assert.equal(approved?.payload.decision, decision.body);
  const text = JSON.stringify(list);
  for (const secret of [w.enterprise.secret, extra.body.secret, w.processor.secret, token.body.token]) {
    assert.not.ok(text.includes(secret), 'no secret or bearer token in the trail');
  }
  assert.not.ok(text.includes(spend.reference), 'no raw credential reference in the trail');
  assert.ok(
    list.every((e) => e.org_id === w.orgId),
    'processor credentials and other orgs stay out of this trail',
  );
});

events('revoking an agent records the revocation of its tokens', async () => {
  const w = await makeWorld(t, 'Globex');
  const spend = await setupSpending(w);
  const res = await t.call('POST', `/v1/agents/${spend.agentId}/revoke`, { auth: w.enterprise });
  assert.is(res.status, 200, res.text);
  const list = await trail(w.orgId);
  const types = list.map((e) => e.type);
  assert.ok(types.includes('agent.revoked'));
  assert.ok(types.includes('binding.suspended'));
  const tok = list.find((e) => e.type === 'token.revoked');
  assert.is(tok?.payload.all_tokens_of_agent, true);
  assert.is(tok?.payload.reason, 'agent_revoked');
  assert.is(tok?.actor, w.enterprise.key_id);
});

events('a simulation is recorded as such and holds nothing', async () => {
  const w = await makeWorld(t, 'Umbrella');
  const spend = await setupSpending(w);
  const sim = await t.call('POST', '/v1/simulate', {
    auth: w.enterprise,
    body: { type: 'authorization', processor_id: w.processorId, ...authorizeBody(spend.reference) },
  });
  assert.is(sim.status, 200, sim.text);
  const list = await trail(w.orgId);
  const ev = list.find((e) => e.id === sim.body.audit_event_id);
  assert.is(ev?.type, 'simulation.authorization');
  assert.is((ev?.payload.decision as { simulated?: boolean } | undefined)?.simulated, true);
  assert.not.ok(list.some((e) => e.type.startsWith('authorization.')));
});

events.run();
