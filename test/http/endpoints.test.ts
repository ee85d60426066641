import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { faultyStore } from '../support/faulty-store.js';
import {
  authorizeBody,
  clientToken,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type TestResponse,
  type World,
} from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

function ok(res: TestResponse, status: number, schema?: string): void {
  assert.is(res.status, status, res.text);
  assert.ok(res.headers.get('request-id'));
  if (schema) assertMatches(schema, res.body);
}

function expectError(res: TestResponse, status: number, code: string): void {
  assert.is(res.status, status, res.text);
  assert.is(res.body?.error?.code, code, res.text);
  assertMatches('ErrorResponse', res.body);
}

let t: TestApp;
let w: World;
const setup = async () => {
  t = await startTestApp();
  w = await makeWorld(t);
};
const teardown = () => t.close();

// ---

const operator = suite('operator and credentials');
operator.before(setup);
operator.after(teardown);

operator('orgs, processors and their credentials', async () => {
  const org = await t.call('POST', '/v1/orgs', { auth: OPERATOR_CRED, body: { name: 'Initech' } });
  ok(org, 201, 'Org');
  const prc = await t.call('POST', '/v1/processors', { auth: OPERATOR_CRED, body: { name: 'Pay Co' } });
  ok(prc, 201, 'Processor');
  const cred = await t.call('POST', `/v1/orgs/${org.body.id}/credentials`, { auth: OPERATOR_CRED });
  ok(cred, 201, 'CreatedCredential');
  assert.is(cred.body.role, 'enterprise');
  assert.is(cred.body.owner_id, org.body.id);
  assert.ok(cred.body.secret.length >= 40);
  const pcred = await t.call('POST', `/v1/processors/${prc.body.id}/credentials`, { auth: OPERATOR_CRED });
  ok(pcred, 201, 'CreatedCredential');
  assert.is(pcred.body.role, 'processor');
  expectError(await t.call('POST', '/v1/orgs/org_nope/credentials', { auth: OPERATOR_CRED }), 404, 'not_found');
  expectError(await t.call('POST', '/v1/orgs', { auth: OPERATOR_CRED, body: {} }), 422, 'validation_failed');
});

operator('credentials: create, list masked, delete; rotation', async () => {
  const created = await t.call('POST', '/v1/credentials', { auth: w.enterprise, body: { name: 'next' } });
  ok(created, 201, 'CreatedCredential');
  const list = await t.call('GET', '/v1/credentials', { auth: w.enterprise });
  ok(list, 200, 'CredentialPage');
  assert.is(list.body.items.length, 2);
  for (const c of list.body.items) {
    assert.match(c.secret, /^sk_\*\*\*\*.{4}$/);
    assert.not.ok(JSON.stringify(c).includes(created.body.secret));
  }
  const page = await t.call('GET', '/v1/credentials?limit=1', { auth: w.enterprise });
  assert.is(page.body.items.length, 1);
  assert.ok(page.body.next_cursor);
  const rest = await t.call('GET', `/v1/credentials?limit=1&cursor=${page.body.next_cursor}`, { auth: w.enterprise });
  assert.is(rest.body.items.length, 1);
  assert.is.not(rest.body.items[0].key_id, page.body.items[0].key_id);
  const del = await t.call('DELETE', `/v1/credentials/${created.body.key_id}`, { auth: w.enterprise });
  ok(del, 200, 'Credential');
  const again = await t.call('DELETE', `/v1/credentials/${created.body.key_id}`, { auth: w.enterprise });
  ok(again, 200, 'Credential');
  const active = await t.call('GET', '/v1/credentials?status=active', { auth: w.enterprise });
  assert.is(active.body.items.length, 1);
  expectError(await t.call('GET', '/v1/credentials?limit=0', { auth: w.enterprise }), 422, 'validation_failed');
  expectError(await t.call('GET', '/v1/credentials?bogus=1', { auth: w.enterprise }), 422, 'validation_failed');
});

operator('last_used_at is recorded', async () => {
  await t.call('GET', '/v1/agents', { auth: w.enterprise });
  // last_used_at is written in the background: await that write rather than guessing how long it takes.
  await t.app.services.credentials.settled();
  const list = await t.call('GET', '/v1/credentials', { auth: w.enterprise });
  const mine = list.body.items.find((c: { key_id: string }) => c.key_id === w.enterprise.key_id);
  assert.ok(mine.last_used_at);
});

operator.run();

// ---

const setupRoutes = suite('agents, authorities, bindings');
setupRoutes.before(setup);
setupRoutes.after(teardown);

setupRoutes('agents: create, get, list, patch, revoke', async () => {
  const a = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'shopper', framework: 'x' } });
  ok(a, 201, 'Agent');
  ok(await t.call('GET', `/v1/agents/${a.body.id}`, { auth: w.enterprise }), 200, 'Agent');
  const patched = await t.call('PATCH', `/v1/agents/${a.body.id}`, { auth: w.enterprise, body: { status: 'paused' } });
  ok(patched, 200, 'Agent');
  assert.is(patched.body.status, 'paused');
  const paused = await t.call('GET', '/v1/agents?status=paused', { auth: w.enterprise });
  ok(paused, 200, 'AgentPage');
  assert.equal(
    paused.body.items.map((x: { id: string }) => x.id),
    [a.body.id],
  );
  const revoked = await t.call('POST', `/v1/agents/${a.body.id}/revoke`, { auth: w.enterprise });
  ok(revoked, 200, 'Agent');
  assert.is(revoked.body.status, 'revoked');
  expectError(
    await t.call('PATCH', `/v1/agents/${a.body.id}`, { auth: w.enterprise, body: { name: 'x' } }),
    409,
    'invalid_state',
  );
  expectError(await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { nom: 'x' } }), 422, 'validation_failed');
  expectError(await t.call('GET', '/v1/agents/agt_missing', { auth: w.enterprise }), 404, 'not_found');
});

setupRoutes('authorities: create, get, list, patch, usage, revoke', async () => {
  const agent = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'a' } });
  const sa = await t.call('POST', '/v1/authorities', {
    auth: w.enterprise,
    body: { agent_id: agent.body.id, currency: 'EUR', limits: { daily: 1000 } },
  });
  ok(sa, 201, 'Authority');
  ok(await t.call('GET', `/v1/authorities/${sa.body.id}`, { auth: w.enterprise }), 200, 'Authority');
  const list = await t.call('GET', `/v1/authorities?agent_id=${agent.body.id}`, { auth: w.enterprise });
  ok(list, 200, 'AuthorityPage');
  assert.is(list.body.items.length, 1);
  const patched = await t.call('PATCH', `/v1/authorities/${sa.body.id}`, {
    auth: w.enterprise,
    body: { limits: { daily: 2000 } },
  });
  ok(patched, 200, 'Authority');
  assert.is(patched.body.limits.daily, 2000);
  const usage = await t.call('GET', `/v1/authorities/${sa.body.id}/usage`, { auth: w.enterprise });
  ok(usage, 200, 'AuthorityUsage');
  assert.is(usage.body.windows.daily.remaining, 2000);
  const revoked = await t.call('POST', `/v1/authorities/${sa.body.id}/revoke`, { auth: w.enterprise });
  ok(revoked, 200, 'Authority');
  assert.is(revoked.body.status, 'revoked');
  expectError(
    await t.call('POST', '/v1/authorities', { auth: w.enterprise, body: { agent_id: agent.body.id, currency: 'eur' } }),
    422,
    'validation_failed',
  );
});

setupRoutes('bindings: create, get, list, suspend, resume, revoke; duplicate reference is 409', async () => {
  const s = await setupSpending(w);
  ok(await t.call('GET', `/v1/bindings/${s.bindingId}`, { auth: w.enterprise }), 200, 'Binding');
  ok(await t.call('GET', '/v1/bindings?status=active', { auth: w.enterprise }), 200, 'BindingPage');
  const dup = await t.call('POST', '/v1/bindings', {
    auth: w.enterprise,
    body: {
      agent_id: s.agentId,
      authority_id: s.authorityId,
      processor_id: w.processorId,
      credential: { type: 'card', reference: s.reference },
    },
  });
  expectError(dup, 409, 'conflict');
  const suspended = await t.call('POST', `/v1/bindings/${s.bindingId}/suspend`, { auth: w.enterprise });
  ok(suspended, 200, 'Binding');
  assert.is(suspended.body.status, 'suspended');
  const resumed = await t.call('POST', `/v1/bindings/${s.bindingId}/resume`, { auth: w.enterprise });
  assert.is(resumed.body.status, 'active');
  const revoked = await t.call('POST', `/v1/bindings/${s.bindingId}/revoke`, { auth: w.enterprise });
  assert.is(revoked.body.status, 'revoked');
  expectError(await t.call('POST', `/v1/bindings/${s.bindingId}/resume`, { auth: w.enterprise }), 409, 'invalid_state');
});

setupRoutes(
  'bindings: the credential reference is shown once, on create; reads show last4 and a hash prefix',
  async () => {
    const s = await setupSpending(w);
    const reference = `tok_${randomBytes(8).toString('hex')}`;
    const created = await t.call('POST', '/v1/bindings', {
      auth: w.enterprise,
      body: {
        agent_id: s.agentId,
        authority_id: s.authorityId,
        processor_id: w.processorId,
        credential: { type: 'card', reference, last4: '1111' },
      },
    });
    ok(created, 201, 'CreatedBinding');
    const hash = createHash('sha256').update(reference).digest('hex');
    assert.equal(created.body.credential, {
      type: 'card',
      reference,
      last4: '1111',
      reference_last4: reference.slice(-4),
      reference_sha256_prefix: hash.slice(0, 12),
    });
    const id = created.body.id as string;
    const reads = [
      await t.call('GET', `/v1/bindings/${id}`, { auth: w.enterprise }),
      await t.call('POST', `/v1/bindings/${id}/suspend`, { auth: w.enterprise }),
      await t.call('POST', `/v1/bindings/${id}/resume`, { auth: w.enterprise }),
    ];
    for (const res of reads) {
      ok(res, 200, 'Binding');
      assert.equal(res.body.credential, {
        type: 'card',
        last4: '1111',
        reference_last4: reference.slice(-4),
        reference_sha256_prefix: hash.slice(0, 12),
      });
      assert.not.ok(res.text.includes(reference), res.text);
    }
    const list = await t.call('GET', '/v1/bindings?limit=100', { auth: w.enterprise });
    ok(list, 200, 'BindingPage');
    assert.ok(list.body.items.some((b: { id: string }) => b.id === id));
    assert.not.ok(list.text.includes(reference));
    assert.not.ok(list.text.includes(s.reference));
    // The audit trail's full hash starts with the prefix a read shows.
    await t.app.services.engine.audit.chainer.drain();
    const audit = await t.call('GET', `/v1/audit?subject_id=${id}`, { auth: w.enterprise });
    const event = audit.body.items.find((e: { type: string }) => e.type === 'binding.created');
    assert.is(event?.payload.binding.credential.reference_sha256, hash, audit.text);
    // A short reference shows no last four characters.
    const short = await t.call('POST', '/v1/bindings', {
      auth: w.enterprise,
      body: {
        agent_id: s.agentId,
        authority_id: s.authorityId,
        processor_id: w.processorId,
        credential: { type: 'card', reference: 'r123' },
      },
    });
    ok(short, 201, 'CreatedBinding');
    const shortRead = await t.call('GET', `/v1/bindings/${short.body.id}`, { auth: w.enterprise });
    assert.is(shortRead.body.credential.reference_last4, null);
    assert.not.ok('reference' in shortRead.body.credential);
  },
);

setupRoutes.run();

// ---

const flow = suite('intents, simulate, authorize, capture, reverse');
flow.before(setup);
flow.after(teardown);

flow('intent: validate, get, list, cancel; approving a cancelled intent is 409', async () => {
  const s = await setupSpending(w);
  const intent = await t.call('POST', '/v1/intents', {
    auth: w.enterprise,
    body: {
      agent_id: s.agentId,
      description: 'a laptop',
      max_amount: 2000,
      currency: 'USD',
      merchant: { mcc: '5734' },
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
    },
  });
  ok(intent, 201, 'IntentResult');
  assert.is(intent.body.action, 'ALLOW');
  const id = intent.body.intent.id;
  ok(await t.call('GET', `/v1/intents/${id}`, { auth: w.enterprise }), 200, 'Intent');
  ok(await t.call('GET', '/v1/intents?status=approved', { auth: w.enterprise }), 200, 'IntentPage');
  const cancelled = await t.call('POST', `/v1/intents/${id}/cancel`, { auth: w.enterprise });
  ok(cancelled, 200, 'IntentResult');
  assert.is(cancelled.body.intent.status, 'cancelled');
  expectError(await t.call('POST', `/v1/intents/${id}/approve`, { auth: w.enterprise }), 409, 'invalid_state');
  expectError(await t.call('GET', '/v1/intents/int_missing', { auth: w.enterprise }), 404, 'not_found');
});

flow('simulate an authorization and an intent; bad type is 422', async () => {
  const s = await setupSpending(w);
  const sim = await t.call('POST', '/v1/simulate', {
    auth: w.enterprise,
    body: { type: 'authorization', processor_id: w.processorId, ...authorizeBody(s.reference) },
  });
  ok(sim, 200, 'Decision');
  assert.is(sim.body.simulated, true);
  assert.is(sim.body.action, 'ALLOW');
  const simIntent = await t.call('POST', '/v1/simulate', {
    auth: w.enterprise,
    body: {
      type: 'intent',
      agent_id: s.agentId,
      description: 'x',
      max_amount: 100,
      currency: 'USD',
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
    },
  });
  ok(simIntent, 200, 'IntentSimulation');
  expectError(
    await t.call('POST', '/v1/simulate', { auth: w.enterprise, body: { type: 'x' } }),
    422,
    'validation_failed',
  );
  const usage = await t.call('GET', `/v1/authorities/${s.authorityId}/usage`, { auth: w.enterprise });
  assert.is(usage.body.windows.daily.spent, 0);
});

flow('authorize, idempotent replay, capture, reverse, list', async () => {
  const s = await setupSpending(w);
  const body = authorizeBody(s.reference);
  const d = await t.call('POST', '/v1/authorize', { auth: w.processor, body });
  ok(d, 200, 'Decision');
  assert.is(d.body.action, 'ALLOW');
  const again = await t.call('POST', '/v1/authorize', { auth: w.processor, body });
  assert.equal(again.body, d.body);
  expectError(
    await t.call('POST', '/v1/authorize', { auth: w.processor, body: { ...body, amount: 1 } }),
    409,
    'idempotency_mismatch',
  );
  ok(await t.call('GET', `/v1/authorizations/${body.authorization_id}`, { auth: w.processor }), 200, 'Authorization');
  const captured = await t.call('POST', `/v1/authorizations/${body.authorization_id}/capture`, {
    auth: w.processor,
    body: { amount: 1000 },
  });
  ok(captured, 200, 'Authorization');
  assert.is(captured.body.status, 'captured');
  assert.is(captured.body.captured_amount, 1000);
  expectError(
    await t.call('POST', `/v1/authorizations/${body.authorization_id}/reverse`, { auth: w.processor }),
    409,
    'invalid_state',
  );
  const second = authorizeBody(s.reference);
  await t.call('POST', '/v1/authorize', { auth: w.processor, body: second });
  const reversed = await t.call('POST', `/v1/authorizations/${second.authorization_id}/reverse`, { auth: w.processor });
  ok(reversed, 200, 'Authorization');
  assert.is(reversed.body.status, 'reversed');
  const denied = await t.call('POST', '/v1/authorize', {
    auth: w.processor,
    body: authorizeBody(s.reference, { amount: 60_000 }),
  });
  ok(denied, 200, 'Decision');
  assert.is(denied.body.action, 'DENY');
  const list = await t.call('GET', '/v1/authorizations?limit=10', { auth: w.enterprise });
  ok(list, 200, 'AuthorizationPage');
  assert.is(list.body.items.length, 3);
  const onlyCaptured = await t.call('GET', '/v1/authorizations?status=captured', { auth: w.enterprise });
  assert.is(onlyCaptured.body.items.length, 1);
  const own = await t.call('GET', '/v1/authorizations?limit=10', { auth: w.processor });
  ok(own, 200, 'AuthorizationPage');
  assert.is(own.body.items.length, 3);
  expectError(await t.call('POST', '/v1/authorizations/pa_unknown/capture', { auth: w.processor }), 404, 'not_found');
  expectError(
    await t.call('POST', '/v1/authorize', { auth: w.processor, body: { amount: 1 } }),
    422,
    'validation_failed',
  );
  const metrics = await t.call('GET', '/metrics');
  assert.match(metrics.text, /allowance_decisions_total\{action="DENY",reason="per_transaction_limit_exceeded"\} 1/);
  // Latency by outcome: the decision's action, or error for an authorize that threw (the 409 above).
  assert.match(metrics.text, /allowance_authorize_duration_seconds_count\{outcome="ALLOW"\} \d+/);
  assert.match(metrics.text, /allowance_authorize_duration_seconds_count\{outcome="DENY"\} \d+/);
  assert.match(metrics.text, /allowance_authorize_duration_seconds_count\{outcome="error"\} \d+/);
});

flow('a processor lists its own authorizations, of every org, and never another processor’s', async () => {
  const app = await startTestApp();
  try {
    const acme = await makeWorld(app, 'Acme');
    const globex = await makeWorld(app, 'Globex');
    const acmeSpend = await setupSpending(acme);
    // Globex binds a card at Acme's processor as well as one at its own.
    const globexAtAcme = await setupSpending({ ...globex, processorId: acme.processorId });
    const globexOwn = await setupSpending(globex);
    const ids: string[] = [];
    for (const reference of [acmeSpend.reference, globexAtAcme.reference, acmeSpend.reference]) {
      const body = authorizeBody(reference);
      ok(await app.call('POST', '/v1/authorize', { auth: acme.processor, body }), 200, 'Decision');
      ids.push(body.authorization_id as string);
    }
    await app.call('POST', `/v1/authorizations/${ids[2]}/reverse`, { auth: acme.processor });
    const theirs = authorizeBody(globexOwn.reference, { authorization_id: ids[0] });
    ok(await app.call('POST', '/v1/authorize', { auth: globex.processor, body: theirs }), 200, 'Decision');

    const seen: string[] = [];
    let path = '/v1/authorizations?limit=2';
    for (let pages = 0; pages < 5; pages++) {
      const page = await app.call('GET', path, { auth: acme.processor });
      ok(page, 200, 'AuthorizationPage');
      for (const item of page.body.items) {
        assert.is(item.processor_id, acme.processorId);
        seen.push(item.authorization_id);
      }
      if (page.body.next_cursor === null) break;
      path = `/v1/authorizations?limit=2&cursor=${encodeURIComponent(page.body.next_cursor)}`;
    }
    assert.equal([...seen].sort(), [...ids].sort());
    const orgs = (await app.call('GET', '/v1/authorizations', { auth: acme.processor })).body.items.map(
      (i: { org_id: string }) => i.org_id,
    );
    assert.equal([...new Set(orgs)].sort(), [acme.orgId, globex.orgId].sort());
    const reversed = await app.call('GET', '/v1/authorizations?status=reversed', { auth: acme.processor });
    assert.equal(
      reversed.body.items.map((i: { authorization_id: string }) => i.authorization_id),
      [ids[2]],
    );
    const globexList = await app.call('GET', '/v1/authorizations', { auth: globex.processor });
    ok(globexList, 200, 'AuthorizationPage');
    assert.equal(
      globexList.body.items.map((i: { processor_id: string; authorization_id: string }) => [
        i.processor_id,
        i.authorization_id,
      ]),
      [[globex.processorId, ids[0]]],
    );
    // The enterprise list is still the org's, across processors.
    const globexOrg = await app.call('GET', '/v1/authorizations', { auth: globex.enterprise });
    assert.is(globexOrg.body.items.length, 2);
    expectError(
      await app.call('GET', '/v1/authorizations?limit=1000', { auth: acme.processor }),
      422,
      'validation_failed',
    );
  } finally {
    await app.close();
  }
});

flow.run();

// ---

const conventions = suite('conventions');
conventions.before(setup);
conventions.after(teardown);

conventions('Request-Id: a sane incoming one is kept, otherwise generated', async () => {
  const kept = await t.call('GET', '/healthz', { headers: { 'request-id': 'abc-123' } });
  assert.is(kept.headers.get('request-id'), 'abc-123');
  const replaced = await t.call('GET', '/healthz', { headers: { 'request-id': 'bad id with spaces' } });
  assert.match(replaced.headers.get('request-id') ?? '', /^req_[0-9a-f]{24}$/);
});

conventions('malformed JSON 400, non-JSON 415, body over 64 KB 413, unknown route 404, wrong method 405', async () => {
  expectError(
    await t.call('POST', '/v1/agents', {
      auth: w.enterprise,
      raw: '{"name":',
      headers: { 'content-type': 'application/json' },
    }),
    400,
    'malformed_request',
  );
  expectError(
    await t.call('POST', '/v1/agents', {
      auth: w.enterprise,
      raw: 'name=x',
      headers: { 'content-type': 'text/plain' },
    }),
    415,
    'unsupported_media_type',
  );
  expectError(
    await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'x', description: 'y'.repeat(70_000) } }),
    413,
    'payload_too_large',
  );
  expectError(await t.call('GET', '/v1/nothing-here'), 404, 'not_found');
  expectError(await t.call('DELETE', '/v1/agents', { auth: w.enterprise }), 405, 'method_not_allowed');
});

/** POSTs `chunks` one by one with chunked transfer encoding (no Content-Length), or with `contentLength`. */
function streamedPost(
  path: string,
  token: string,
  chunks: Buffer[],
  contentLength?: number,
): Promise<{ status: number; connection: string | undefined; body: { error?: { code?: string } } }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    };
    if (contentLength !== undefined) headers['content-length'] = contentLength;
    const req = request(`${t.url}${path}`, { method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: JSON.parse(text) });
      });
    });
    // The server may answer and close before every chunk is written.
    req.on('error', (err) => ((err as { code?: string }).code === 'ECONNRESET' ? undefined : reject(err)));
    for (const c of chunks) req.write(c);
    req.end();
  });
}

conventions(
  'a chunked body is cut off at 64 KB while reading; a declared length over it is refused unread',
  async () => {
    const token = clientToken(w.enterprise);
    const piece = Buffer.alloc(16 * 1024, 0x20);
    const chunked = await streamedPost('/v1/agents', token, [Buffer.from('{"name":"x"'), ...Array(5).fill(piece)]);
    assert.is(chunked.status, 413);
    assert.is(chunked.body.error?.code, 'payload_too_large');
    assert.is(chunked.connection, 'close');
    const declared = await streamedPost('/v1/agents', token, [Buffer.from('{"name":"x"}')], 70_000);
    assert.is(declared.status, 413);
    assert.is(declared.body.error?.code, 'payload_too_large');
    assert.is(declared.connection, 'close');
    // Under the limit, chunked, split inside a multi-byte character: read whole, decoded once.
    const name = Buffer.from('{"name":"caf\u00e9 agent"}');
    const split = name.indexOf(0xc3) + 1;
    const fine = await streamedPost('/v1/agents', token, [name.subarray(0, split), name.subarray(split)]);
    assert.is(fine.status, 201, JSON.stringify(fine.body));
    assert.is((fine.body as { name?: string }).name, 'caf\u00e9 agent');
  },
);

conventions('5xx hides the message', async () => {
  const faulty = faultyStore();
  const failing = await startTestApp({}, faulty.store);
  try {
    const wf = await makeWorld(failing);
    faulty.wrap('listAgents', () => Promise.reject(new Error('secret internal detail')));
    const res = await failing.call('GET', '/v1/agents', { auth: wf.enterprise });
    assert.ok(res.status >= 500, res.text);
    assert.is(res.body.error.message, 'internal error');
    assert.not.ok(res.text.includes('secret internal detail'));
    assertMatches('ErrorResponse', res.body);
    faulty.wrap('ping', () => Promise.reject(new Error('down')));
    const ready = await failing.call('GET', '/readyz');
    assert.is(ready.status, 503, ready.text);
  } finally {
    await failing.close();
  }
});

conventions('429 with Retry-After per credential', async () => {
  // makeWorld spends four operator calls: the burst is exactly enough.
  const limited = await startTestApp({ rateLimit: { perSecond: 0.5, burst: 4 } });
  try {
    const wl = await makeWorld(limited);
    const statuses: number[] = [];
    let last: TestResponse | undefined;
    for (let i = 0; i < 6; i++) {
      last = await limited.call('GET', '/v1/agents', { auth: wl.enterprise });
      statuses.push(last.status);
    }
    assert.equal(statuses.slice(0, 4), [200, 200, 200, 200]);
    assert.is(statuses[5], 429);
    assert.is(last?.body.error.code, 'rate_limited');
    assert.ok(Number(last?.headers.get('retry-after')) >= 1);
    // Another credential has its own bucket.
    assert.is((await limited.call('GET', '/v1/authorizations', { auth: wl.processor })).status, 200);
  } finally {
    await limited.close();
  }
});

conventions('public endpoints: jwks, healthz, readyz, openapi', async () => {
  ok(await t.call('GET', '/.well-known/jwks.json'), 200, 'Jwks');
  ok(await t.call('GET', '/healthz'), 200, 'Health');
  ok(await t.call('GET', '/readyz'), 200, 'Health');
  const doc = await t.call('GET', '/openapi.json');
  assert.is(doc.status, 200);
  assert.is(doc.body.openapi, '3.1.0');
});

conventions.run();
