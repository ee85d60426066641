import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { lithicSecret } from '../support/lithic-asa.js';
import { stripeSecret } from '../support/stripe-events.js';

const audited = suite('bridge secrets: audit events');
let t: TestApp;
let w: World;

audited.before(async () => {
  t = await startTestApp({ memoryBridges: true });
  w = await makeWorld(t);
});
audited.after(async () => {
  await t.close();
});

async function eventsOf(subjectId: string) {
  await t.app.services.engine.audit.chainer.drain();
  return t.store.listAuditEvents(w.orgId, { subject_id: subjectId, limit: 50 });
}

for (const [path, kind, secretOf] of [
  ['stripe-issuing', 'stripe_issuing', stripeSecret],
  ['lithic-asa', 'lithic_asa', lithicSecret],
  ['lithic-events', 'lithic_events', lithicSecret],
] as const) {
  audited(`${kind}: register, rotate and delete are audit events of the org, without the secrets`, async () => {
    const first = secretOf();
    const second = secretOf();
    const base = `/v1/bridges/${path}`;
    const created = await t.call('POST', base, {
      auth: w.enterprise,
      body: { processor_id: w.processorId, signing_secret: first },
    });
    assert.is(created.status, 201, created.text);
    // Refused changes write nothing.
    const dup = await t.call('POST', base, {
      auth: w.enterprise,
      body: { processor_id: w.processorId, signing_secret: second },
    });
    assert.is(dup.body.error.code, 'conflict');
    const bad = await t.call('PUT', `${base}/secret`, { auth: w.enterprise, body: { signing_secret: 'short' } });
    assert.is(bad.body.error.code, 'validation_failed');
    const rotated = await t.call('PUT', `${base}/secret`, {
      auth: w.enterprise,
      body: { signing_secret: second, grace_seconds: 600 },
    });
    assert.is(rotated.status, 200, rotated.text);
    const gone = await t.call('DELETE', base, { auth: w.enterprise });
    assert.is(gone.status, 204, gone.text);
    const missing = await t.call('DELETE', base, { auth: w.enterprise });
    assert.is(missing.body.error.code, 'not_found');

    const events = await eventsOf(`${w.orgId}/${kind}`);
    assert.equal(
      events.map((e) => e.type),
      ['bridge.registered', 'bridge.secret_rotated', 'bridge.deleted'],
    );
    for (const e of events) {
      assert.is(e.actor, w.enterprise.key_id);
      assert.is(e.subject.kind, 'bridge');
      assert.is(e.payload.processor, kind);
      assert.is(e.payload.processor_id, w.processorId);
    }
    const [reg, rot, del] = events;
    const firstId = created.body.secrets[0].id;
    const secondId = rotated.body.secrets[0].id;
    assert.is(reg?.payload.secret_id, firstId);
    assert.is(rot?.payload.secret_id, secondId);
    assert.equal(rot?.payload.previous, [{ id: firstId, expires_at: rotated.body.secrets[1].expires_at }]);
    assert.equal(del?.payload.secret_ids, [secondId, firstId]);
    const text = JSON.stringify(events);
    for (const secret of [first, second]) {
      const body = secret.replace(/^whsec_/, '');
      assert.not.ok(text.includes(body.slice(0, 16)), 'no part of a secret');
    }
    assert.not.ok(/ciphertext|last4/.test(text), 'nor its sealed form or masked tail');
  });
}

audited.run();
