import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AllowanceApiError,
  type AllowanceClient,
  type AuthorizeRequest,
  createAllowanceClient,
  type Decision,
  ProofVerificationError,
} from '../../src/client/index.js';
import { createJwsSigner } from '../../src/crypto/jws.js';
import { generateSigningKey } from '../../src/crypto/signing-keys.js';
import { ManualClock } from '../../src/util/clock.js';
import {
  authorizeBody,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
  type TestApp,
  type World,
} from '../support/http-app.js';

/** Awaits `run`, asserts it rejects, and returns what it threw. */
async function rejects(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  assert.unreachable('expected a rejection');
  return undefined;
}

let t: TestApp;
let w: World;
let reference: string;

/** A fetch that records each request's method and path, and lets a test change what happens. */
function recordingFetch(intercept?: (request: Request, forward: () => Promise<Response>) => Promise<Response>): {
  fetch: (request: Request) => Promise<Response>;
  calls: string[];
} {
  const calls: string[] = [];
  return {
    calls,
    fetch: (request) => {
      calls.push(`${request.method} ${new URL(request.url).pathname}`);
      const forward = () => fetch(request.clone());
      return intercept ? intercept(request, forward) : forward();
    },
  };
}

const request = (overrides: Record<string, unknown> = {}) =>
  authorizeBody(reference, overrides) as unknown as AuthorizeRequest;

function processorClient(extra: Partial<Parameters<typeof createAllowanceClient>[0]> = {}): AllowanceClient {
  return createAllowanceClient({
    baseUrl: t.url,
    credential: { keyId: w.processor.key_id, secret: w.processor.secret },
    sleep: async () => {},
    ...extra,
  });
}

const client = suite('typed client against the real app');
client.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
  ({ reference } = await setupSpending(w));
});
client.after(() => t.close());

client('enterprise and processor calls are signed per request; a decision verifies against the JWKS', async () => {
  const enterprise = createAllowanceClient({
    baseUrl: t.url,
    credential: { keyId: w.enterprise.key_id, secret: w.enterprise.secret },
  });
  const agent = enterprise.unwrap(await enterprise.api.POST('/v1/agents', { body: { name: 'typed-bot' } }));
  assert.ok(agent.id.startsWith('agt_'), agent.id);
  const listed = enterprise.unwrap(await enterprise.api.GET('/v1/agents/{id}', { params: { path: { id: agent.id } } }));
  assert.is(listed.name, 'typed-bot');

  const processor = processorClient();
  const decision = await processor.authorize(request());
  assert.is(decision.action, 'ALLOW');
  const verified = await processor.verifyDecision(decision);
  assert.is(verified.payload.decision_id, decision.decision_id);
  assert.is(verified.kid, (await processor.jwks()).keys[0]?.kid);
});

client('errors surface their code and reason; a 4xx is not retried', async () => {
  const rec = recordingFetch();
  const processor = processorClient({ fetch: rec.fetch });
  const err = await rejects(() => processor.authorize(request({ currency: 42 })));
  assert.instance(err, AllowanceApiError);
  assert.is((err as AllowanceApiError).status, 422);
  assert.is((err as AllowanceApiError).code, 'validation_failed');
  assert.equal(rec.calls, ['POST /v1/authorize']);

  const wrong = createAllowanceClient({
    baseUrl: t.url,
    credential: { keyId: w.processor.key_id, secret: `${w.processor.secret}x` },
  });
  const denied = await rejects(() => wrong.authorize(request()));
  assert.is((denied as AllowanceApiError).code, 'unauthorized');
  assert.is((denied as AllowanceApiError).reason, 'invalid_token');
});

client('a lost response and a 503 are retried with the same authorization_id: one decision', async () => {
  let lost = 0;
  const sleeps: number[] = [];
  const rec = recordingFetch(async (request, forward) => {
    if (!request.url.endsWith('/v1/authorize')) return forward();
    lost++;
    if (lost === 1) {
      await forward(); // the server decides, but the answer never reaches the client
      throw new TypeError('fetch failed');
    }
    if (lost === 2) return new Response('{"error":{"code":"storage_unavailable","message":"x"}}', { status: 503 });
    return forward();
  });
  const processor = processorClient({
    fetch: rec.fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    retry: { baseMs: 100, capMs: 1_000 },
  });
  const body = request();
  const decision = await processor.authorize(body);
  assert.equal(rec.calls, ['POST /v1/authorize', 'POST /v1/authorize', 'POST /v1/authorize']);
  assert.equal(sleeps, [50, 100]);
  assert.is(decision.authorization_id, body.authorization_id);
  // The server made one decision and answered the retry with it.
  const list = await t.call('GET', '/v1/authorizations', { auth: w.processor });
  const mine = list.body.items.filter((d: Decision) => d.authorization_id === body.authorization_id);
  assert.is(mine.length, 1);
  assert.is(mine[0].decision_id, decision.decision_id);
});

client('a 429 from the server is retried after its Retry-After, on the server clock', async () => {
  const clock = new ManualClock(Date.now());
  const limited = await startTestApp({ clock, rateLimit: { perSecond: 1, burst: 4 } });
  try {
    const lw = await makeWorld(limited);
    const { reference: ref } = await setupSpending(lw);
    const sleeps: number[] = [];
    const rec = recordingFetch();
    const processor = createAllowanceClient({
      baseUrl: limited.url,
      credential: { keyId: lw.processor.key_id, secret: lw.processor.secret },
      fetch: rec.fetch,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
      },
    });
    for (let i = 0; i < 5; i++) {
      const d = await processor.authorize(authorizeBody(ref) as unknown as AuthorizeRequest);
      assert.is(d.action, 'ALLOW');
    }
    // The burst of 4, then one 429 (Retry-After: 1) and the retry a second later by the server's clock.
    assert.is(rec.calls.length, 6);
    assert.equal(sleeps, [1000]);
  } finally {
    await limited.close();
  }
});

client('retries stop after the configured attempts and throw the last error', async () => {
  const rec = recordingFetch(async () => {
    throw new TypeError('fetch failed');
  });
  const processor = processorClient({ fetch: rec.fetch, retry: { attempts: 3 } });
  const err = await rejects(() => processor.authorize(request()));
  assert.instance(err, TypeError);
  assert.is(rec.calls.length, 3);
});

client('the JWKS is cached, fetched again for an unknown kid; a forged or edited decision is refused', async () => {
  const tokens: Record<string, boolean> = {};
  const rec = recordingFetch((req, forward) => {
    tokens[new URL(req.url).pathname] = req.headers.has('authorization');
    return forward();
  });
  let nowMs = Date.now();
  const processor = processorClient({ fetch: rec.fetch, now: () => nowMs });
  const decision = await processor.authorize(request());
  await processor.verifyDecision(decision);
  // A public route gets no token; an authenticated one does.
  assert.equal(tokens, { '/v1/authorize': true, '/.well-known/jwks.json': false });
  await processor.verifyDecision(decision);
  const jwksCalls = () => rec.calls.filter((c) => c === 'GET /.well-known/jwks.json').length;
  assert.is(jwksCalls(), 1);

  const edited = { ...decision, approved_amount: decision.approved_amount + 1 };
  const mismatch = await rejects(() => processor.verifyDecision(edited));
  assert.instance(mismatch, ProofVerificationError);
  assert.is((mismatch as ProofVerificationError).reason, 'payload_mismatch');
  assert.is(jwksCalls(), 1);

  const { proof: _proof, ...fields } = decision;
  const forged = { ...decision, proof: createJwsSigner(generateSigningKey())(fields) };
  // An unknown kid just after a fetch is refused without fetching again.
  assert.is(((await rejects(() => processor.verifyDecision(forged))) as ProofVerificationError).reason, 'unknown_kid');
  assert.is(jwksCalls(), 1);
  nowMs += 10_000;
  const unknown = await rejects(() => processor.verifyDecision(forged));
  assert.is((unknown as ProofVerificationError).reason, 'unknown_kid');
  assert.is(jwksCalls(), 2);
  // Another unknown kid at once does not fetch again; after the refresh interval it does.
  assert.is(((await rejects(() => processor.verifyDecision(forged))) as ProofVerificationError).reason, 'unknown_kid');
  assert.is(jwksCalls(), 2);
  nowMs += 10_000;
  assert.is(((await rejects(() => processor.verifyDecision(forged))) as ProofVerificationError).reason, 'unknown_kid');
  assert.is(jwksCalls(), 3);
});

client('session auth exchanges the credential once and reuses the token until it nears its end', async () => {
  let nowMs = Date.now();
  const rec = recordingFetch();
  const processor = processorClient({ fetch: rec.fetch, auth: 'session', now: () => nowMs });
  await processor.authorize(request());
  await processor.authorize(request());
  assert.equal(rec.calls, ['POST /v1/auth/token', 'POST /v1/authorize', 'POST /v1/authorize']);
  nowMs += 15 * 60 * 1000;
  await processor.authorize(request());
  assert.equal(rec.calls.slice(3), ['POST /v1/auth/token', 'POST /v1/authorize']);
});

client(
  'api_key auth sends x-api-key and no token; a credential without the option is api_key_not_enabled',
  async () => {
    const seen: string[] = [];
    const rec = recordingFetch((req, forward) => {
      seen.push(`${req.headers.has('authorization')} ${req.headers.get('x-api-key') ?? ''}`);
      return forward();
    });
    const created = await t.call('POST', `/v1/processors/${w.processorId}/credentials`, {
      auth: OPERATOR_CRED,
      body: { api_key_auth: true },
    });
    assert.is(created.status, 201, created.text);
    const keyed = createAllowanceClient({
      baseUrl: t.url,
      credential: { keyId: created.body.key_id, secret: created.body.secret },
      auth: 'api_key',
      fetch: rec.fetch,
    });
    const decision = await keyed.authorize(request());
    assert.is(decision.action, 'ALLOW');
    assert.equal(seen, [`false ${created.body.key_id}.${created.body.secret}`]);
    const plain = processorClient({ auth: 'api_key' });
    const err = await rejects(() => plain.authorize(request()));
    assert.instance(err, AllowanceApiError);
    assert.is((err as AllowanceApiError).reason, 'api_key_not_enabled');
  },
);

client.run();
