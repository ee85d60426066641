import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTelemetry, traceExportersOf } from '../../src/cli/telemetry.js';
import { AppError } from '../../src/errors/index.js';
import type { RouteSpec } from '../../src/http/index.js';
import { captureLogger } from '../../src/http/index.js';
import { traced, tracingActive } from '../../src/util/tracing.js';
import {
  authorizeBody,
  clientToken,
  makeWorld,
  OPERATOR_CRED,
  setupSpending,
  startTestApp,
} from '../support/http-app.js';

const test = suite('traces of authorize (OpenTelemetry)');

/** Registers an SDK tracer provider with an in-memory exporter; `stop` unregisters everything. */
function recordSpans(): { exporter: InMemorySpanExporter; stop(): Promise<void> } {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  return {
    exporter,
    async stop() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;

test('off by default: no provider, no span; the function runs alone', () => {
  assert.is(tracingActive(), false);
  let seen: unknown = 'not called';
  assert.is(
    traced('x', { a: 1 }, (span) => {
      seen = span;
      return 7;
    }),
    7,
  );
  assert.is(seen, undefined);
});

test('one authorize: the request span, auth, authorize, and its store, policy and signing children', async () => {
  const t = await startTestApp();
  const w = await makeWorld(t);
  const s = await setupSpending(w);
  const rec = recordSpans();
  try {
    assert.is(tracingActive(), true);
    const body = authorizeBody(s.reference);
    const token = clientToken(w.processor);
    const res = await t.call('POST', '/v1/authorize', { auth: token, body });
    assert.is(res.body.action, 'ALLOW');
    const spans = rec.exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((x) => x.name === name);

    const [root] = named('POST /v1/authorize');
    assert.ok(root, 'the server span is named by the route template');
    assert.is(root.kind, SpanKind.SERVER);
    assert.is(parentOf(root), undefined);
    assert.is(root.attributes['http.route'], '/v1/authorize');
    assert.is(root.attributes['http.response.status_code'], 200);
    assert.is(root.attributes['allowance.request_id'], res.headers.get('request-id'));
    assert.is(root.attributes['url.path'], undefined);

    const [auth] = named('allowance.auth');
    assert.ok(auth);
    assert.is(parentOf(auth), idOf(root));
    assert.is(auth.attributes['allowance.role'], 'processor');
    assert.is(auth.attributes['allowance.key_id'], w.processor.key_id);
    assert.is(auth.status.code, SpanStatusCode.UNSET);

    const [authorize] = named('allowance.authorize');
    assert.ok(authorize);
    assert.is(parentOf(authorize), idOf(root));
    assert.is(authorize.attributes['allowance.org_id'], w.orgId);
    assert.is(authorize.attributes['allowance.processor_id'], w.processorId);
    assert.is(authorize.attributes['allowance.authorization_id'], body.authorization_id);
    assert.is(authorize.attributes['allowance.decision.action'], 'ALLOW');
    assert.equal(authorize.attributes['allowance.decision.reason_codes'], []);
    assert.is(authorize.attributes['allowance.decision.stand_in'], false);

    const children = spans.filter((x) => parentOf(x) === idOf(authorize)).map((x) => x.name);
    for (const name of [
      'allowance.store.findBinding',
      'allowance.store.getAgent',
      'allowance.store.getAuthority',
      'allowance.store.getUsage',
      'allowance.store.claimAuthorization',
      'allowance.policy.evaluate',
      'allowance.sign',
    ]) {
      assert.ok(children.includes(name), `${name} under allowance.authorize (got ${children.join(', ')})`);
    }
    const [policy] = named('allowance.policy.evaluate');
    assert.is(policy?.attributes['allowance.org_id'], w.orgId);
    assert.is(policy?.attributes['allowance.policy.revision'], res.body.policy_revision);
    assert.is(named('allowance.store.findBinding')[0]?.attributes['db.operation.name'], 'findBinding');
    // Every span ends inside the request's.
    for (const x of spans) assert.is(x.spanContext().traceId, root.spanContext().traceId, x.name);

    // Ids and outcomes only: no secret, token, credential reference or amount of the body.
    const everything = JSON.stringify(spans.map((x) => ({ name: x.name, attributes: x.attributes, events: x.events })));
    for (const secret of [w.processor.secret, token, s.reference, w.enterprise.secret]) {
      assert.not.ok(everything.includes(secret), 'no secret in the spans');
    }
  } finally {
    await rec.stop();
    await t.close();
  }
});

test('an API key: the auth span says so; neither the spans nor the logs hold the key', async () => {
  const { logger, records } = captureLogger();
  const t = await startTestApp({ logger });
  const w = await makeWorld(t);
  const s = await setupSpending(w);
  const created = await t.call('POST', `/v1/processors/${w.processorId}/credentials`, {
    auth: OPERATOR_CRED,
    body: { name: 'keyed', api_key_auth: true },
  });
  assert.is(created.status, 201, created.text);
  const key = `${created.body.key_id}.${created.body.secret}`;
  const rec = recordSpans();
  try {
    const res = await t.call('POST', '/v1/authorize', {
      headers: { 'x-api-key': key },
      body: authorizeBody(s.reference),
    });
    assert.is(res.body.action, 'ALLOW', res.text);
    const spans = rec.exporter.getFinishedSpans();
    const auth = spans.find((x) => x.name === 'allowance.auth');
    assert.is(auth?.attributes['allowance.auth.via'], 'api_key');
    assert.is(auth?.attributes['allowance.key_id'], created.body.key_id);
    const everything = JSON.stringify([
      spans.map((x) => ({ name: x.name, attributes: x.attributes, events: x.events })),
      records,
    ]);
    assert.not.ok(everything.includes(created.body.secret));
    assert.ok(records.some((r) => r.event === 'request' && r.key_id === created.body.key_id));
  } finally {
    await rec.stop();
    await t.close();
  }
});

test('a refused token ends the auth span as an error with its code; nothing is authorized', async () => {
  const t = await startTestApp();
  const w = await makeWorld(t);
  const s = await setupSpending(w);
  const rec = recordSpans();
  try {
    const res = await t.call('POST', '/v1/authorize', {
      auth: 'not.a.token',
      body: authorizeBody(s.reference),
    });
    assert.is(res.status, 401);
    const spans = rec.exporter.getFinishedSpans();
    const auth = spans.find((x) => x.name === 'allowance.auth');
    assert.is(auth?.status.code, SpanStatusCode.ERROR);
    assert.is(auth?.attributes['allowance.error.code'], 'unauthorized');
    assert.is(spans.find((x) => x.name === 'POST /v1/authorize')?.attributes['http.response.status_code'], 401);
    assert.not.ok(spans.some((x) => x.name === 'allowance.authorize'));
  } finally {
    await rec.stop();
    await t.close();
  }
  assert.is(tracingActive(), false);
});

test('a 5xx makes the server span an error; a 4xx does not', async () => {
  const failing: RouteSpec = {
    method: 'get',
    path: '/v1/_test/fail',
    operationId: 'testFail',
    summary: 'fails',
    tag: 'test',
    roles: 'public',
    success: { status: 200, schema: null },
    handle: () => {
      throw new AppError('storage_unavailable', 'down');
    },
  };
  const t = await startTestApp({ extraRoutes: [failing] });
  const rec = recordSpans();
  try {
    assert.is((await t.call('GET', '/v1/_test/fail')).status, 503);
    assert.is((await t.call('GET', '/v1/agents')).status, 401);
    const spans = rec.exporter.getFinishedSpans();
    const failed = spans.find((x) => x.name === 'GET /v1/_test/fail');
    assert.is(failed?.status.code, SpanStatusCode.ERROR);
    assert.is(failed?.attributes['http.response.status_code'], 503);
    const refused = spans.find((x) => x.name === 'GET /v1/agents');
    assert.is(refused?.status.code, SpanStatusCode.UNSET);
  } finally {
    await rec.stop();
    await t.close();
  }
});

test('the OTEL_ variables decide: off unless an exporter or an OTLP endpoint is named', () => {
  assert.equal(traceExportersOf({}), []);
  assert.equal(traceExportersOf({ OTEL_TRACES_EXPORTER: 'none' }), []);
  assert.equal(traceExportersOf({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }), []);
  assert.equal(traceExportersOf({ OTEL_TRACES_EXPORTER: 'otlp, console' }), ['otlp', 'console']);
  assert.equal(traceExportersOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), ['otlp']);
  assert.equal(traceExportersOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), ['otlp']);
});

test('startTelemetry: the SDK exports the spans of an authorize over OTLP to the configured endpoint', async () => {
  assert.is(await startTelemetry({}), null);
  assert.is(tracingActive(), false);
  const received: { path: string; body: string }[] = [];
  const collector = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((ok) => collector.listen(0, '127.0.0.1', () => ok()));
  const variables = {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
  };
  const saved = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
  Object.assign(process.env, variables);
  const t = await startTestApp();
  try {
    const w = await makeWorld(t);
    const s = await setupSpending(w);
    const telemetry = await startTelemetry(process.env);
    assert.ok(telemetry);
    assert.equal(telemetry.exporters, ['otlp']);
    assert.is(tracingActive(), true);
    const res = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(s.reference) });
    assert.is(res.body.action, 'ALLOW');
    // Shutting down flushes the batch to the collector, then the API is back to its no-ops.
    await telemetry.shutdown();
    assert.is(tracingActive(), false);
    const traces = received.filter((r) => r.path === '/v1/traces');
    assert.ok(traces.length >= 1, 'the collector received the traces');
    type Payload = {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: { name: string }[] }[];
      }[];
    };
    const resourceSpans = traces.flatMap((r) => (JSON.parse(r.body) as Payload).resourceSpans);
    const service = resourceSpans[0]?.resource.attributes.find((a) => a.key === 'service.name');
    assert.is(service?.value.stringValue, 'allowance');
    const names = resourceSpans.flatMap((r) => r.scopeSpans.flatMap((sc) => sc.spans.map((x) => x.name)));
    for (const name of ['POST /v1/authorize', 'allowance.auth', 'allowance.authorize', 'allowance.sign']) {
      assert.ok(names.includes(name), name);
    }
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await t.close();
    await new Promise<void>((ok) => collector.close(() => ok()));
  }
});

test.run();
