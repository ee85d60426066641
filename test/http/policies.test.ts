import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  authorizeBody,
  clientToken,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type World,
} from '../support/http-app.js';
import { bundleFrom } from '../support/policy-bundle.js';
import {
  ALLOW_INTENT,
  loopingWasm,
  signedBundle,
  spendOnlyBundle,
  tarGz,
  trappingBundle,
  unsupportedBuiltinBundle,
  vendorPolicy,
} from '../support/policy-uploads.js';
import { assertMatches } from '../support/response-schemas.js';

const GZIP = { 'content-type': 'application/gzip' };

function jwsPayload(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString('utf8'));
}

async function trail(t: TestApp, orgId: string) {
  await t.app.services.engine.audit.chainer.drain();
  return t.store.listAuditEvents(orgId, { limit: 1000 });
}

async function upload(w: World, bytes: Uint8Array, auth = w.enterprise) {
  return w.t.call('POST', '/v1/policies', { auth, raw: bytes, headers: GZIP });
}

async function world(): Promise<{ t: TestApp; w: World; reference: string }> {
  const t = await startTestApp();
  const w = await makeWorld(t);
  const { reference } = await setupSpending(w);
  return { t, w, reference };
}

const lifecycle = suite('policies: upload, promote, decide, roll back');

lifecycle('an org policy tightens live decisions, names its revision in the proof, and rolls back', async () => {
  const { t, w, reference } = await world();
  try {
    const up = await upload(w, await vendorPolicy('rev-1', ['mer_3c7a1b9f']));
    assert.is(up.status, 201, up.text);
    assert.is(up.body.revision, 'rev-1');
    assert.is(up.body.status, 'inactive');
    assert.is(up.body.org_id, w.orgId);
    assert.is(up.body.uploaded_by, w.enterprise.key_id);
    assert.ok(/^[0-9a-f]{64}$/.test(up.body.sha256));
    assertMatches('Policy', up.body);
    const again = await upload(w, await vendorPolicy('rev-1', ['mer_3c7a1b9f']));
    assert.is(again.status, 200, 'the same revision and content again is 200');
    assert.equal(again.body, up.body);

    const before = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    assert.is(before.body.action, 'ALLOW');
    assert.is(before.body.org_policy_revision, null);

    const promoted = await t.call('POST', '/v1/policies/rev-1/promote', { auth: w.enterprise });
    assert.is(promoted.status, 200, promoted.text);
    assert.is(promoted.body.active_revision, 'rev-1');
    assert.is(promoted.body.previous_revision, null);
    assert.is(promoted.body.rollback_available, true);
    assertMatches('PolicyState', promoted.body);

    const denied = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    assert.is(denied.body.action, 'DENY');
    assert.equal(denied.body.reason_codes, ['policy:no_vendor']);
    assert.is(denied.body.org_policy_revision, 'rev-1');
    assertMatches('Decision', denied.body);
    assert.is(jwsPayload(denied.body.proof).org_policy_revision, 'rev-1', 'inside the signed proof');
    const other = await t.call('POST', '/v1/authorize', {
      auth: w.processor,
      body: authorizeBody(reference, { merchant: { id: 'mer_other', mcc: '5734', country: 'US' } }),
    });
    assert.is(other.body.action, 'ALLOW', 'data.json is visible to the org policy as data');

    const list = await t.call('GET', '/v1/policies', { auth: w.enterprise });
    assert.is(list.status, 200);
    assertMatches('PolicyList', list.body);
    assert.is(list.body.active_revision, 'rev-1');
    assert.is(list.body.items[0].status, 'active');
    assert.ok(list.body.items[0].activated_at);

    const back = await t.call('POST', '/v1/policies/rollback', { auth: w.enterprise });
    assert.is(back.status, 200, back.text);
    assert.is(back.body.active_revision, null, 'back to base only, the previous state');
    const after = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    assert.is(after.body.action, 'ALLOW');
    assert.is(after.body.org_policy_revision, null);
    assert.is((await t.call('POST', '/v1/policies/rollback', { auth: w.enterprise })).body.error.code, 'invalid_state');

    const audit = (await trail(t, w.orgId)).filter((e) => e.type.startsWith('policy.'));
    assert.equal(
      audit.map((e) => e.type),
      ['policy.uploaded', 'policy.promoted', 'policy.rolled_back'],
    );
    assert.ok(audit.every((e) => e.actor === w.enterprise.key_id));
  } finally {
    await t.close();
  }
});

lifecycle('promote to another revision, roll back to the previous one; shadow, stop, retire', async () => {
  const { t, w } = await world();
  try {
    await upload(w, await vendorPolicy('rev-a', []));
    await upload(w, await vendorPolicy('rev-b', ['x']));
    await upload(w, await vendorPolicy('rev-c', ['y']));
    await t.call('POST', '/v1/policies/rev-a/promote', { auth: w.enterprise });
    const b = await t.call('POST', '/v1/policies/rev-b/activate', { auth: w.enterprise });
    assert.is(b.body.active_revision, 'rev-b');
    assert.is(b.body.previous_revision, 'rev-a');
    const shadow = await t.call('POST', '/v1/policies/rev-c/shadow', { auth: w.enterprise });
    assert.is(shadow.status, 200, shadow.text);
    assert.is(shadow.body.shadow_revision, 'rev-c');
    assert.is((await t.call('GET', '/v1/policies/rev-c', { auth: w.enterprise })).body.status, 'shadow');
    assert.is(t.registry.forOrg(w.orgId).orgShadow?.revision, 'rev-c', 'the shadow revision is loaded');
    assert.is((await t.call('POST', '/v1/policies/rev-b/shadow', { auth: w.enterprise })).status, 409);
    assert.is((await t.call('POST', '/v1/policies/rev-c/retire', { auth: w.enterprise })).status, 409);
    const stop = await t.call('DELETE', '/v1/policies/shadow', { auth: w.enterprise });
    assert.is(stop.body.shadow_revision, null);
    assert.is(t.registry.forOrg(w.orgId).orgShadow, null);
    const retired = await t.call('POST', '/v1/policies/rev-c/retire', { auth: w.enterprise });
    assert.is(retired.status, 200, retired.text);
    assert.is(retired.body.status, 'retired');
    const reuse = await t.call('POST', '/v1/policies/rev-c/promote', { auth: w.enterprise });
    assert.is(reuse.status, 409);
    assert.is(reuse.body.error.code, 'invalid_state');
    const active = await t.call('POST', '/v1/policies/rev-b/retire', { auth: w.enterprise });
    assert.is(active.body.error.code, 'invalid_state');
    const back = await t.call('POST', '/v1/policies/rollback', { auth: w.enterprise });
    assert.is(back.body.active_revision, 'rev-a');
    assert.is(back.body.previous_revision, null);
    // Only revisions in use stay loaded: rev-a now.
    assert.equal(
      t.registry.loadedRevisions().filter((r) => r.startsWith(w.orgId)),
      [`${w.orgId}/rev-a`],
    );
  } finally {
    await t.close();
  }
});

lifecycle('promoting the shadow revision clears the shadow', async () => {
  const { t, w } = await world();
  try {
    await upload(w, await vendorPolicy('rev-s', []));
    await t.call('POST', '/v1/policies/rev-s/shadow', { auth: w.enterprise });
    const p = await t.call('POST', '/v1/policies/rev-s/promote', { auth: w.enterprise });
    assert.is(p.body.active_revision, 'rev-s');
    assert.is(p.body.shadow_revision, null);
  } finally {
    await t.close();
  }
});

lifecycle('simulate with policy_revision evaluates base + that revision without promoting it', async () => {
  const { t, w, reference } = await world();
  try {
    await upload(w, await vendorPolicy('rev-sim', ['mer_3c7a1b9f']));
    const body = authorizeBody(reference);
    const sim = await t.call('POST', '/v1/simulate', {
      auth: w.enterprise,
      body: { type: 'authorization', processor_id: w.processorId, policy_revision: 'rev-sim', ...body },
    });
    assert.is(sim.status, 200, sim.text);
    assert.is(sim.body.action, 'DENY');
    assert.equal(sim.body.reason_codes, ['policy:no_vendor']);
    assert.is(sim.body.org_policy_revision, 'rev-sim');
    const plain = await t.call('POST', '/v1/simulate', {
      auth: w.enterprise,
      body: { type: 'authorization', processor_id: w.processorId, ...body },
    });
    assert.is(plain.body.action, 'ALLOW');
    const unknown = await t.call('POST', '/v1/simulate', {
      auth: w.enterprise,
      body: { type: 'authorization', processor_id: w.processorId, policy_revision: 'nope', ...body },
    });
    assert.is(unknown.status, 404);
  } finally {
    await t.close();
  }
});

lifecycle('an org policy that fails at run time denies with policy_error, never approves', async () => {
  const { t, w, reference } = await world();
  try {
    await upload(w, await vendorPolicy('rev-ok', []));
    await t.call('POST', '/v1/policies/rev-ok/promote', { auth: w.enterprise });
    // A bundle that passed upload but fails later (e.g. its bytes were lost): the registry cannot load it.
    const state = await t.policies.getState(w.orgId);
    const bytes = await vendorPolicy('rev-gone', []);
    await t.policies.insertBundle({
      org_id: w.orgId,
      revision: 'rev-gone',
      sha256: 'f'.repeat(64),
      size_bytes: bytes.length,
      entrypoints: [],
      uploaded_at: new Date().toISOString(),
      uploaded_by: 'test',
      retired_at: null,
      bytes: new Uint8Array([1, 2, 3]),
    });
    await t.policies.updateState(w.orgId, state.version, { ...state, active: 'rev-gone' });
    await t.registry.refresh();
    const d = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    assert.is(d.status, 200, d.text);
    assert.is(d.body.action, 'DENY');
    assert.equal(d.body.reason_codes, ['policy_error']);
    assert.is(d.body.org_policy_revision, 'rev-gone');
    const metrics = await t.call('GET', '/metrics');
    assert.match(metrics.text, /allowance_org_policy_errors_total 1\b/);
  } finally {
    await t.close();
  }
});

const bad = suite('policies: bad input');

async function refused(w: World, bytes: Uint8Array, problem: string) {
  const r = await upload(w, bytes);
  assert.is(r.status, 422, `${problem}: ${r.text}`);
  assert.is(r.body.error.code, 'policy_bundle_invalid');
  assert.is(r.body.error.details.problem, problem);
  assert.type(r.body.error.details.detail, 'string');
  assertMatches('ErrorResponse', r.body);
}

bad('garbage, non-tar, traversal, absolute paths, links, missing parts are 422 with the problem', async () => {
  const { t, w } = await world();
  try {
    await refused(w, randomBytes(4096), 'not_gzip');
    await refused(w, new Uint8Array(gzipSync(Buffer.from('this is not a tar archive '.repeat(40)))), 'not_tar');
    await refused(w, await tarGz([{ name: '../../etc/passwd', data: 'x' }]), 'unsafe_path');
    await refused(w, await tarGz([{ name: 'a/../../b', data: 'x' }]), 'unsafe_path');
    await refused(w, await tarGz([{ name: '//etc/passwd', data: 'x' }]), 'unsafe_path');
    await refused(w, await tarGz([{ name: 'policy.wasm', type: 'symlink', linkname: '/etc/passwd' }]), 'link_entry');
    await refused(w, await tarGz([{ name: 'data.json', type: 'link', linkname: 'x' }]), 'link_entry');
    await refused(w, await tarGz([{ name: 'policy.wasm', data: 'x' }]), 'missing_manifest');
    await refused(w, await tarGz([{ name: '.manifest', data: '{"roots":[""]}' }]), 'missing_revision');
    await refused(w, await tarGz([{ name: '.manifest', data: '{"revision":"a/b"}' }]), 'missing_revision');
    await refused(w, await tarGz([{ name: '.manifest', data: '{"revision":"r1"}' }]), 'missing_wasm');
    await refused(
      w,
      await tarGz([
        { name: '.manifest', data: '{"revision":"r1"}' },
        { name: 'policy.wasm', data: '\u0000asm\u0001\u0000\u0000\u0000garbage' },
      ]),
      'wasm_invalid',
    );
    assert.is((await t.call('GET', '/v1/policies', { auth: w.enterprise })).body.items.length, 0, 'nothing stored');
  } finally {
    await t.close();
  }
});

bad('a missing entry point, an unsupported builtin and a trapping module are refused at upload', async () => {
  const { t, w } = await world();
  try {
    await refused(w, await spendOnlyBundle(), 'missing_entrypoint');
    const builtin = await upload(w, await unsupportedBuiltinBundle());
    assert.is(builtin.body.error.details.problem, 'unsupported_builtin');
    assert.match(builtin.body.error.details.detail, 'time.now_ns');
    await refused(w, await trappingBundle(), 'smoke_failed');
    const nothing = await bundleFrom(
      {
        'spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []} if input.never\n',
        'intent.rego': ALLOW_INTENT,
      },
      'no-result',
    );
    await refused(w, nothing, 'smoke_failed');
    const invalid = await bundleFrom(
      { 'spend.rego': 'package allowance.spend\n\ndecision := {"action": "MAYBE"}\n', 'intent.rego': ALLOW_INTENT },
      'invalid-output',
    );
    await refused(w, invalid, 'smoke_failed');
  } finally {
    await t.close();
  }
});

bad('a 50 MB bundle is 413 from its length; a chunked one is cut off while streaming', async () => {
  const { t, w } = await world();
  try {
    const big = await upload(w, randomBytes(50 * 1024 * 1024));
    assert.is(big.status, 413);
    assert.is(big.body.error.code, 'policy_bundle_too_large');
    const chunk = randomBytes(1024 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 50) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${t.url}/v1/policies`, {
      method: 'POST',
      headers: { ...GZIP, authorization: `Bearer ${clientToken(w.enterprise)}` },
      body: stream,
      duplex: 'half',
    } as RequestInit).catch((err: unknown) => err);
    if (res instanceof Response) {
      assert.is(res.status, 413);
      assert.is(((await res.json()) as { error: { code: string } }).error.code, 'policy_bundle_too_large');
    }
    // The server stopped reading long before the end (the client may see the reset instead of the answer).
    assert.ok(sent < 50, `the server read ${sent} of 50 MiB`);
  } finally {
    await t.close();
  }
});

bad('same revision with other content is 409; unknown and foreign revisions are 404', async () => {
  const { t, w } = await world();
  try {
    assert.is((await upload(w, await vendorPolicy('rev-x', ['a']))).status, 201);
    const conflict = await upload(w, await vendorPolicy('rev-x', ['b']));
    assert.is(conflict.status, 409);
    assert.is(conflict.body.error.code, 'policy_revision_conflict');
    const unknown = await t.call('POST', '/v1/policies/nope/promote', { auth: w.enterprise });
    assert.is(unknown.status, 404);
    assert.is(unknown.body.error.code, 'not_found');
    const other = await makeWorld(t, 'Other');
    for (const [method, path] of [
      ['GET', '/v1/policies/rev-x'],
      ['POST', '/v1/policies/rev-x/promote'],
      ['POST', '/v1/policies/rev-x/shadow'],
      ['POST', '/v1/policies/rev-x/retire'],
    ] as const) {
      const r = await t.call(method, path, { auth: other.enterprise });
      assert.is(r.status, 404, `${method} ${path}`);
      assert.is(r.body.error.code, 'not_found');
    }
    assert.is((await t.call('GET', '/v1/policies', { auth: other.enterprise })).body.items.length, 0);
    const wrongType = await t.call('POST', '/v1/policies', {
      auth: w.enterprise,
      raw: await vendorPolicy('rev-y', []),
      headers: { 'content-type': 'application/json' },
    });
    assert.is(wrongType.status, 415);
    assert.is((await upload(w, await vendorPolicy('rev-y', []), other.processor)).status, 403);
  } finally {
    await t.close();
  }
});

const base = suite('policies: base policy and signatures');

base('the operator replaces the base policy on the server; enterprises cannot', async () => {
  const { t, w, reference } = await world();
  try {
    const initial = await t.call('GET', '/v1/base-policy', { auth: OPERATOR_CRED });
    assert.is(initial.status, 200, initial.text);
    assert.is(initial.body.activated_at, null);
    assertMatches('BasePolicy', initial.body);
    const strict = await bundleFrom(
      {
        'spend.rego': 'package allowance.spend\n\ndecision := {"action": "DENY", "reasons": ["platform_closed"]}\n',
        'intent.rego': ALLOW_INTENT,
      },
      'base-closed',
    );
    assert.is(
      (await t.call('POST', '/v1/base-policy', { auth: w.enterprise, raw: strict, headers: GZIP })).status,
      403,
    );
    const set = await t.call('POST', '/v1/base-policy', { auth: OPERATOR_CRED, raw: strict, headers: GZIP });
    assert.is(set.status, 200, set.text);
    assert.is(set.body.revision, 'base-closed');
    const d = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
    assert.is(d.body.policy_revision, 'base-closed');
    assert.equal(d.body.reason_codes, ['platform_closed']);
  } finally {
    await t.close();
  }
});

base('with a registered key only signed bundles are accepted', async () => {
  const { t, w } = await world();
  try {
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const set = await t.call('PUT', '/v1/policy-signing-key', { auth: w.enterprise, body: { public_key: pem } });
    assert.is(set.status, 200, set.text);
    assert.is(set.body.signatures_required, true);
    await refused(w, await vendorPolicy('unsigned', []), 'signature_required');
    const forged = await tarGz([
      { name: '.manifest', data: '{"revision":"r1"}' },
      { name: '.signatures.json', data: '{"signatures":["eyJhbGciOiJFZERTQSJ9.eyJmaWxlcyI6W119.AAAA"]}' },
    ]);
    await refused(w, forged, 'signature_invalid');
    const bad = await t.call('PUT', '/v1/policy-signing-key', { auth: w.enterprise, body: { public_key: 'nope' } });
    assert.is(bad.body.error.code, 'validation_failed');
    await t.call('PUT', '/v1/policy-signing-key', { auth: w.enterprise, body: { public_key: null } });
    assert.is((await upload(w, await vendorPolicy('unsigned', []))).status, 201);
  } finally {
    await t.close();
  }
});

base('a bundle signed with the registered key is accepted; one signed with another key is not', async () => {
  const { t, w } = await world();
  try {
    const mine = await signedBundle('signed-1');
    const theirs = await signedBundle('signed-2');
    await t.call('PUT', '/v1/policy-signing-key', { auth: w.enterprise, body: { public_key: mine.publicKey } });
    const ok = await upload(w, mine.bytes);
    assert.is(ok.status, 201, ok.text);
    await refused(w, theirs.bytes, 'signature_invalid');
  } finally {
    await t.close();
  }
});

bad('a module that never returns is stopped by the time limit of the checks and refused', async () => {
  const t = await startTestApp({ policyCheckTimeoutMs: 1500 });
  try {
    const w = await makeWorld(t);
    const bytes = await tarGz([
      { name: '.manifest', data: '{"revision":"loops"}' },
      { name: 'policy.wasm', data: loopingWasm() },
    ]);
    await refused(w, bytes, 'smoke_failed');
    // The server still answers.
    assert.is((await t.call('GET', '/v1/policies', { auth: w.enterprise })).status, 200);
  } finally {
    await t.close();
  }
});

lifecycle.run();
bad.run();
base.run();
