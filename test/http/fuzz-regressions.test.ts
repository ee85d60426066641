import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compileValidator, createWebhookSchema } from '../../src/schemas/index.js';
import { makeWorld, setupSpending, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

/** Defects found by fuzzing the API from its own OpenAPI document (npm run fuzz:http). */
const s = suite('fuzz regressions');

let t: TestApp;
let w: World;
s.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
});
s.after(() => t.close());

/** A request with any method; fetch refuses TRACE and CONNECT. */
function rawCall(
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: unknown; text: string }> {
  return new Promise((ok, fail) => {
    const req = request(t.url + path, { method }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        ok({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.on('error', fail);
    req.end();
  });
}

s('a method the router never routes is a JSON 405 on a known path (was a bare 501)', async () => {
  for (const path of ['/healthz', '/v1/agents', '/v1/agents/agt_x', '/v1/simulate']) {
    const res = await rawCall('TRACE', path);
    assert.is(res.status, 405, `${path}: ${res.text}`);
    assert.is((res.body as { error: { code: string } }).error.code, 'method_not_allowed');
    assertMatches('ErrorResponse', res.body);
    assert.ok(res.headers.allow, `${path} Allow`);
  }
  const put = await rawCall('PUT', '/v1/agents');
  assert.is(put.status, 405, put.text);
  assertMatches('ErrorResponse', put.body);
});

s('a method the router never routes is a JSON 404 on an unknown path', async () => {
  const res = await rawCall('TRACE', '/v1/nothing-here');
  assert.is(res.status, 404, res.text);
  assert.is((res.body as { error: { code: string } }).error.code, 'not_found');
  assertMatches('ErrorResponse', res.body);
  assert.is(res.headers.allow, undefined);
});

s('SimulateRequest documents the fields each type requires (was only `type`)', async () => {
  const doc = (await t.call('GET', '/openapi.json')).body;
  const schema = doc.components.schemas.SimulateRequest;
  assert.equal(schema.discriminator, { propertyName: 'type' });
  const [authorization, intent] = schema.oneOf;
  assert.is(authorization.properties.type.const, 'authorization');
  assert.ok(authorization.required.includes('authorization_id') && authorization.required.includes('processor_id'));
  assert.is(intent.properties.type.const, 'intent');
  assert.ok(intent.required.includes('expires_at'));
  // What the document says is what is accepted.
  const documented = compileValidator({ $id: 'DocumentedSimulateRequest', ...schema });
  assert.throws(() => documented({ type: 'intent' }));
  assert.throws(() => documented({ type: 'authorization' }));
});

s('a simulation missing the fields of its type is refused with the errors of that type only', async () => {
  const res = await t.call('POST', '/v1/simulate', { auth: w.enterprise, body: { type: 'intent' } });
  assert.is(res.status, 422, res.text);
  assertMatches('ErrorResponse', res.body);
  const missing = (res.body.error.details as { message: string }[]).map((d) => d.message);
  assert.ok(
    missing.some((m) => m.includes("'agent_id'")),
    res.text,
  );
  assert.not.ok(
    missing.some((m) => m.includes('authorization_id')),
    res.text,
  );
});

s('simulations valid by the document still get a decision, with the engine defaults applied', async () => {
  const spending = await setupSpending(w);
  const sim = await t.call('POST', '/v1/simulate', {
    auth: w.enterprise,
    body: {
      type: 'authorization',
      processor_id: w.processorId,
      authorization_id: 'pa_fuzz_1',
      credential_reference: spending.reference,
      amount: 100,
      currency: 'USD',
      merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
    },
  });
  assert.is(sim.status, 200, sim.text);
  assert.is(sim.body.action, 'ALLOW');
  const intent = await t.call('POST', '/v1/simulate', {
    auth: w.enterprise,
    body: {
      type: 'intent',
      agent_id: spending.agentId,
      description: 'books',
      max_amount: 100,
      currency: 'USD',
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
    },
  });
  assert.is(intent.status, 200, intent.text);
});

s('times past the year 9999 in UTC are refused instead of answered as non-RFC 3339 "+010000-..." times', async () => {
  const spending = await setupSpending(w);
  const intent = (expires_at: string) =>
    t.call('POST', '/v1/intents', {
      auth: w.enterprise,
      body: { agent_id: spending.agentId, description: 'x', max_amount: 100, currency: 'USD', expires_at },
    });
  for (const time of ['9999-12-31T23:59:59-23:59', '0000-01-01T00:00:00+00:01']) {
    const res = await intent(time);
    assert.is(res.status, 422, res.text);
    assert.is(res.body.error.details[0].path, '/expires_at');
    const authority = await t.call('PATCH', `/v1/authorities/${spending.authorityId}`, {
      auth: w.enterprise,
      body: { valid_until: time },
    });
    assert.is(authority.status, 422, authority.text);
    assert.is(authority.body.error.details[0].path, '/valid_until');
  }
  const last = await intent('9999-12-31T23:59:59.999Z');
  assert.is(last.status, 201, last.text);
  assert.is(last.body.intent.expires_at, '9999-12-31T23:59:59.999Z');
  assertMatches('IntentResult', last.body);
});

s('a leap second, valid RFC 3339, is accepted as second 0 of the next minute', async () => {
  const spending = await setupSpending(w);
  const res = await t.call('POST', '/v1/intents', {
    auth: w.enterprise,
    body: {
      agent_id: spending.agentId,
      description: 'x',
      max_amount: 100,
      currency: 'USD',
      expires_at: '2030-06-30T23:59:60.25Z',
    },
  });
  assert.is(res.status, 201, res.text);
  assert.is(res.body.intent.expires_at, '2030-07-01T00:00:00.250Z');
  const authority = await t.call('PATCH', `/v1/authorities/${spending.authorityId}`, {
    auth: w.enterprise,
    body: { valid_until: '2030-12-31T23:59:60Z' },
  });
  assert.is(authority.status, 200, authority.text);
  assert.is(authority.body.valid_until, '2031-01-01T00:00:00.000Z');
});

s(
  'a 16-digit safe integer in a query is an integer (to_seq 9007199254740990 was refused as "must be integer")',
  async () => {
    const res = await t.call('GET', '/v1/audit/export?format=json&from_seq=1&to_seq=9007199254740990', {
      auth: w.enterprise,
    });
    assert.is(res.status, 200, res.text);
    const past = await t.call('GET', '/v1/audit/export?format=json&from_seq=1&to_seq=9007199254740992', {
      auth: w.enterprise,
    });
    assert.is(past.status, 422, 'beyond the safe integers stays refused');
    assert.is(past.body?.error?.code, 'validation_failed');
  },
);

const validateCreateWebhook = compileValidator(createWebhookSchema);

s('a webhook URL that is not an absolute http(s) URL fails the schema, as the document says', async () => {
  for (const url of ['0', 'example.com/hook', 'ftp://example.com/x', 'https://']) {
    const res = await t.call('POST', '/v1/webhooks', { auth: w.enterprise, body: { url, events: ['*'] } });
    assert.is(res.status, 422, `${url}: ${res.text}`);
    assert.is(res.body?.error?.code, 'validation_failed', url);
    assert.throws(() => validateCreateWebhook({ url, events: ['*'] }), url);
  }
});

s.run();
