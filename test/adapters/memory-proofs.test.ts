import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { lastJwsParts, verifyJws } from '../../src/crypto/index.js';
import { attachProof, DetachedProof, detachProof, vouchProof } from '../../src/storage/index.js';
import type { Decision } from '../../src/types.js';
import { makeFixture } from '../support/engine-fixture.js';
import { authorizeBody, makeWorld, setupSpending, startTestApp } from '../support/http-app.js';

/** A decision as its bytes: the JSON of its keys in order, so a reordered or changed field shows. */
const bytes = (d: unknown) => JSON.stringify(d);

const detach = suite('decision proofs: detached and rebuilt');

async function signedDecision(): Promise<Decision> {
  const f = await makeFixture();
  return f.engine.authorize(f.processor.id, f.request());
}

detach('a decision rebuilt from its fields, header and signature is the same bytes, proof included', async () => {
  const d = await signedDecision();
  const detached = detachProof(d);
  assert.ok(detached instanceof DetachedProof);
  assert.not.ok('proof' in detached.fields, 'the fields do not keep the proof');
  assert.is(detached.signature, d.proof.split('.')[2]);
  assert.is(detached.header, d.proof.split('.')[0]);
  const rebuilt = attachProof(detached);
  assert.is(rebuilt.proof, d.proof);
  assert.is(bytes(rebuilt), bytes(d));
  // `share`: equal strings of the record are taken, the bytes do not change.
  const shared = detachProof(d, { created_at: `${d.created_at}`, amount: 'not a number' });
  assert.ok(shared);
  assert.is(bytes(attachProof(shared)), bytes(d));
});

detach(
  'a vouched decision is detached on its signed fields; one changed after vouching is checked by its bytes',
  async () => {
    const d = await signedDecision();
    const { proof, ...signed } = d;
    // Unfrozen copies, in the decision's key order.
    const vouched = { ...d };
    vouchProof(vouched, { ...signed });
    const detached = detachProof(vouched);
    assert.ok(detached);
    assert.is(bytes(attachProof(detached)), bytes(d));
    // The signed object names other values: the vouch does not apply, the payload is decoded and matches.
    const otherSigned = { ...d };
    vouchProof(otherSigned, { ...signed, amount: d.amount + 1 });
    const checked = detachProof(otherSigned);
    assert.ok(checked);
    assert.is(attachProof(checked).proof, proof);
    // A field changed after vouching: the payload no longer matches, the decision is kept whole.
    const changed = { ...d };
    vouchProof(changed, { ...signed });
    changed.amount = d.amount + 1;
    assert.is(detachProof(changed), null);
  },
);

detach(
  "a decision vouched with its proof's parts is detached on them; a proof replaced after vouching is read",
  async () => {
    const d = await signedDecision();
    const { proof, ...signed } = d;
    const [h, p, s] = proof.split('.') as [string, string, string];
    const parts = { header: h, signature: s };
    const vouched = { ...d };
    vouchProof(vouched, { ...signed }, parts);
    const detached = detachProof(vouched);
    assert.ok(detached);
    assert.is(detached.header, h);
    assert.is(detached.signature, s);
    assert.is(bytes(attachProof(detached)), bytes(d));
    // A proof replaced after vouching: the decision's own proof is read (one over other bytes is not detached).
    const replaced = { ...d };
    vouchProof(replaced, { ...signed }, parts);
    replaced.proof = `${h}.${p}x.${s}`;
    assert.is(detachProof(replaced), null);
    // Vouched without parts, the same: the fields are trusted only with the proof they were vouched with.
    const unparted = { ...d };
    vouchProof(unparted, { ...signed });
    unparted.proof = `${h}.${p}x.${s}`;
    assert.is(detachProof(unparted), null);
    // Fields changed after vouching: not detached, whatever parts were given.
    const changed = { ...d };
    vouchProof(changed, { ...signed }, parts);
    changed.amount = d.amount + 1;
    assert.is(detachProof(changed), null);
  },
);

detach("the engine vouches with the parts its signer wrote: they are the proof's own", async () => {
  const d = await signedDecision();
  const parts = lastJwsParts(d.proof);
  assert.ok(parts, 'the proof is the last JWS the signer made');
  const [h, , s] = d.proof.split('.') as [string, string, string];
  assert.is(parts.header, h);
  assert.is(parts.signature, s);
  assert.is(lastJwsParts(`${h}.x.${s}`), null, 'any other string has no parts');
});

detach('a decision whose proof would not be rebuilt exactly is not detached', async () => {
  const d = await signedDecision();
  const changed = { ...d, amount: d.amount + 1 };
  assert.is(detachProof(changed), null, 'a field changed after signing');
  const { proof, ...rest } = d;
  assert.is(detachProof({ proof, ...rest } as Decision), null, 'keys in another order');
  assert.is(detachProof({ ...d, extra: 1 } as unknown as Decision), null, 'a key outside the decision');
  assert.is(detachProof(rest as unknown as Decision), null, 'no proof');
  assert.is(detachProof({ ...d, proof: `${d.proof}.x` }), null, 'not a compact JWS');
  const [h, p, s] = d.proof.split('.') as [string, string, string];
  assert.is(detachProof({ ...d, proof: `${h}.${p}x.${s}` }), null, 'a payload of other bytes');
  assert.is(detachProof({ ...d, proof: `${h}.${p}.` }), null, 'no signature');
  // Encodings Node decodes to the same bytes but that are not the canonical one: never rebuilt exactly.
  const other = p.replace(/[-_]/, (c) => (c === '-' ? '+' : '/'));
  if (other !== p) assert.is(detachProof({ ...d, proof: `${h}.${other}.${s}` }), null, 'the base64 alphabet');
  const bytes = Buffer.from(p, 'base64url').length;
  if (bytes % 3 !== 0) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(p[p.length - 1] as string);
    const loose = `${p.slice(0, -1)}${alphabet[last + 1]}`;
    assert.equal(Buffer.from(loose, 'base64url'), Buffer.from(p, 'base64url'), 'decodes the same');
    assert.is(detachProof({ ...d, proof: `${h}.${loose}.${s}` }), null, 'unused bits set');
  }
  assert.is(detachProof({ ...d, proof: `${h}.${p}==.${s}` }), null, 'padding');
});

detach.run();

// ---

const store = suite('memory store: every returned decision carries the proof returned at decision time');

store('replay, reads, lists, the audit outbox and the linked chain return the decision byte for byte', async () => {
  const adapter = new MemoryAdapter();
  const f = await makeFixture({ store: adapter, audit: { enabled: true }, authority: { step_up_above: 20_000 } });
  const jwks = f.engine.jwks();
  const bodies = [f.request(), f.request({ amount: 60_000 }), f.request({ amount: 25_000 }), f.request()];
  const decided = new Map<string, { decision: Decision; bytes: string }>();
  for (const body of bodies) {
    const d = await f.engine.authorize(f.processor.id, body);
    decided.set(d.authorization_id, { decision: d, bytes: bytes(d) });
  }
  assert.equal(
    [...decided.values()].map((x) => x.decision.action),
    ['ALLOW', 'DENY', 'STEP_UP', 'ALLOW'],
  );
  const check = (d: Decision | null | undefined, where: string) => {
    assert.ok(d, where);
    const at = decided.get(d.authorization_id);
    assert.ok(at, `${where}: a decision of this test`);
    assert.is(bytes(d), at.bytes, `${where}: the decision as returned at decision time`);
    assert.ok(verifyJws(d.proof, jwks).ok, `${where}: the proof verifies against the JWKS`);
  };

  for (const body of bodies) check(await f.engine.authorize(f.processor.id, body), 'replay');
  for (const id of decided.keys()) {
    const first = await adapter.getAuthorization(f.processor.id, id);
    check(first?.decision, 'getAuthorization');
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first?.decision), 'a read record is frozen');
    // Rebuilt on every read: the store keeps no decision object with its proof.
    const again = await adapter.getAuthorization(f.processor.id, id);
    assert.ok(again?.decision !== first?.decision);
    check(adapter.inspectAuthorization(f.processor.id, id)?.decision, 'inspectAuthorization');
  }
  const orgList = await adapter.listAuthorizations(f.org.id, { limit: 10 });
  assert.is(orgList.items.length, decided.size);
  for (const r of orgList.items) check(r.decision, 'listAuthorizations');
  for (const r of (await adapter.listProcessorAuthorizations(f.processor.id, { limit: 10 })).items)
    check(r.decision, 'listProcessorAuthorizations');
  const approvals = await adapter.listApprovals(f.org.id, { limit: 10 });
  assert.is(approvals.items.length, 1);
  for (const r of approvals.items) check(r.decision, 'listApprovals');
  for (const r of await adapter.findOrgAuthorizations(f.org.id, bodies[0]?.authorization_id as string, 5))
    check(r.decision, 'findOrgAuthorizations');

  const inOutbox = (await adapter.listAuditOutbox(1000)).filter((d) => d.payload.decision !== undefined);
  assert.is(inOutbox.length, decided.size);
  for (const draft of inOutbox) check(draft.payload.decision as Decision, 'audit outbox');

  await f.engine.audit.chainer.drain();
  assert.is((await adapter.listAuditOutbox(1000)).length, 0);
  const events = await adapter.listAuditEvents(f.org.id, { limit: 1000 });
  const linked = events.filter((e) => e.payload.decision !== undefined);
  assert.is(linked.length, decided.size);
  for (const e of linked) check(e.payload.decision as Decision, 'linked audit event');
  const head = await adapter.getAuditHead(f.org.id);
  assert.is(bytes(head), bytes(events[events.length - 1]), 'the head as listed');
  // Each event as read hashes to what the chain linked: the rebuilt payload is the hashed one.
  const report = await f.engine.audit.chain.listAuditEvents(f.org.id, { limit: 1000 });
  assert.is(bytes(report), bytes(events));
});

store.run();

// ---

const exported = suite('memory store: the audit export carries the proofs returned at decision time');

exported('every decision of GET /v1/audit/export equals the one authorize returned and verifies', async () => {
  const t = await startTestApp();
  try {
    const w = await makeWorld(t, 'Exported');
    const { reference } = await setupSpending(w);
    const jwks = (await t.call('GET', '/.well-known/jwks.json')).body;
    const returned = new Map<string, string>();
    for (const amount of [1_000, 2_000, 900_000]) {
      const res = await t.call('POST', '/v1/authorize', {
        auth: w.processor,
        body: authorizeBody(reference, { amount }),
      });
      assert.is(res.status, 200, res.text);
      returned.set(res.body.decision_id, JSON.stringify(res.body));
    }
    await t.app.services.engine.audit.chainer.drain();
    const res = await t.call('GET', '/v1/audit/export?format=json', { auth: w.enterprise });
    assert.is(res.status, 200, res.text);
    const decisions = (JSON.parse(res.text).events as { payload: { decision?: Decision } }[])
      .map((e) => e.payload.decision)
      .filter((d): d is Decision => d !== undefined);
    assert.is(decisions.length, returned.size);
    for (const d of decisions) {
      assert.is(JSON.stringify(d), returned.get(d.decision_id), 'the decision authorize returned, in its order');
      assert.ok(verifyJws(d.proof, jwks).ok);
    }
  } finally {
    await t.close();
  }
});

exported.run();
