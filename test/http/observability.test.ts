import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError } from '../../src/errors/index.js';
import { captureLogger, createJsonLogger, REDACT_PATHS, type RouteSpec, silentLogger } from '../../src/http/index.js';
import { authorizeBody, makeWorld, setupSpending, startTestApp } from '../support/http-app.js';

const logs = suite('logs: pino, JSON lines, levels, redaction');

logs('one JSON line per record: ISO time, level name, event and fields; below the level nothing', () => {
  const lines: string[] = [];
  const logger = createJsonLogger('warn', (line) => lines.push(line));
  logger.debug('dropped_debug', {});
  logger.info('dropped_info', { a: 1 });
  logger.warn('kept_warn', { org_id: 'org_1', n: 2 });
  logger.error('kept_error', { error: 'boom' });
  assert.is(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const [warn, error] = lines.map((l) => JSON.parse(l));
  assert.is(warn.level, 'warn');
  assert.is(warn.event, 'kept_warn');
  assert.is(warn.org_id, 'org_1');
  assert.is(warn.n, 2);
  assert.is(new Date(warn.time).toISOString(), warn.time);
  assert.is(error.level, 'error');
  assert.is(error.error, 'boom');
});

logs('secrets are redacted by path, at the top level and inside the usual containers; other fields stay', () => {
  const { logger, records } = captureLogger();
  logger.info('webhook_registered', {
    key_id: 'key_public',
    secret: 'sk_top',
    authorization: 'Bearer eyJtop',
    token: 'tok_session',
    credential_reference: 'tok_visa_4242',
    signing_key: '-----BEGIN PRIVATE KEY-----',
    headers: { authorization: 'Bearer eyJheader', 'x-api-key': 'ak_header', accept: 'application/json' },
    endpoint: { url: 'https://example.test/hook', signing_secret: 'whsec_1', secret: 'whsec_2' },
    bridge: { webhook_secret: 'whsec_3', bridge_secret: 'bs_1', kind: 'lithic_asa' },
    credential: { key_id: 'key_nested', secret: 'sk_nested', master_key: 'mk_nested' },
  });
  const r = records[0] as unknown as Record<string, unknown> & {
    headers: Record<string, unknown>;
    endpoint: Record<string, unknown>;
    bridge: Record<string, unknown>;
    credential: Record<string, unknown>;
  };
  assert.is(r.key_id, 'key_public');
  for (const field of ['secret', 'authorization', 'token', 'credential_reference', 'signing_key'] as const) {
    assert.is(r[field], '[redacted]', field);
  }
  assert.is(r.headers.authorization, '[redacted]');
  assert.is(r.headers['x-api-key'], '[redacted]');
  assert.is(r.headers.accept, 'application/json');
  assert.is(r.endpoint.signing_secret, '[redacted]');
  assert.is(r.endpoint.secret, '[redacted]');
  assert.is(r.endpoint.url, 'https://example.test/hook');
  assert.is(r.bridge.webhook_secret, '[redacted]');
  assert.is(r.bridge.bridge_secret, '[redacted]');
  assert.is(r.bridge.kind, 'lithic_asa');
  assert.equal(r.credential, { key_id: 'key_nested', secret: '[redacted]', master_key: '[redacted]' });
  const text = JSON.stringify(records);
  for (const secret of ['sk_', 'eyJ', 'tok_session', 'tok_visa', 'PRIVATE KEY', 'ak_header', 'whsec_', 'bs_1', 'mk_']) {
    assert.not.ok(text.includes(secret), secret);
  }
});

logs('redaction uses explicit paths only: a wildcard path makes pino copy every record (bench:observability)', () => {
  assert.ok(REDACT_PATHS.length > 0);
  assert.not.ok(REDACT_PATHS.some((path) => path.includes('*')));
  assert.ok(REDACT_PATHS.includes('headers.authorization'));
});

logs('the silent logger writes nothing and flushes at once', async () => {
  silentLogger.error('nothing', { secret: 'x' });
  await silentLogger.flush();
  const { logger, records } = captureLogger('silent');
  logger.error('nothing', {});
  assert.is(records.length, 0);
});

logs('the app logs one request line per request and request_failed for a 5xx, with its request id', async () => {
  const { logger, records } = captureLogger();
  const failing: RouteSpec = {
    method: 'get',
    path: '/v1/_test/fail',
    operationId: 'testFail',
    summary: 'fails',
    tag: 'test',
    roles: 'public',
    success: { status: 200, schema: null },
    handle: () => {
      throw new Error('the store exploded');
    },
  };
  const unavailable: RouteSpec = {
    ...failing,
    path: '/v1/_test/unavailable',
    operationId: 'testUnavailable',
    handle: () => {
      throw new AppError('storage_unavailable', 'down');
    },
  };
  const t = await startTestApp({ logger, extraRoutes: [failing, unavailable] });
  try {
    const ok = await t.call('GET', '/healthz', { headers: { authorization: 'Bearer not-logged' } });
    const failed = await t.call('GET', '/v1/_test/fail');
    assert.is(failed.status, 500);
    assert.is(failed.body.error.code, 'internal_error');
    const down = await t.call('GET', '/v1/_test/unavailable');
    assert.is(down.body.error.code, 'storage_unavailable');
    const requests = records.filter((r) => r.event === 'request');
    assert.equal(
      requests.map((r) => [r.level, r.method, r.route, r.status, r.request_id]),
      [
        ['info', 'GET', '/healthz', 200, ok.headers.get('request-id')],
        ['info', 'GET', '/v1/_test/fail', 500, failed.body.error.request_id],
        ['info', 'GET', '/v1/_test/unavailable', 503, down.body.error.request_id],
      ],
    );
    assert.ok(requests.every((r) => typeof r.ms === 'number'));
    const errors = records.filter((r) => r.event === 'request_failed');
    assert.equal(
      errors.map((r) => [r.level, r.code, r.request_id]),
      [
        ['error', 'internal_error', failed.body.error.request_id],
        ['error', 'storage_unavailable', down.body.error.request_id],
      ],
    );
    assert.match(String(errors[0]?.error), /the store exploded/);
    assert.not.ok(JSON.stringify(records).includes('not-logged'));
  } finally {
    await t.close();
  }
});

logs.run();

const metrics = suite('metrics: prom-client, one registry per app');

/** The value of one sample line of a Prometheus text exposition, or undefined when absent. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

metrics('authorize latency by outcome, decisions by action and reason, requests by route and status', async () => {
  const t = await startTestApp();
  try {
    const w = await makeWorld(t);
    const s = await setupSpending(w);
    const allow = authorizeBody(s.reference);
    assert.is((await t.call('POST', '/v1/authorize', { auth: w.processor, body: allow })).body.action, 'ALLOW');
    const deny = authorizeBody(s.reference, { amount: 60_000 });
    assert.is((await t.call('POST', '/v1/authorize', { auth: w.processor, body: deny })).body.action, 'DENY');
    const conflict = await t.call('POST', '/v1/authorize', { auth: w.processor, body: { ...allow, amount: 1 } });
    assert.is(conflict.body.error.code, 'idempotency_mismatch');
    const text = (await t.call('GET', '/metrics')).text;
    assert.is(sample(text, 'allowance_authorize_duration_seconds_count{outcome="ALLOW"}'), 1);
    assert.is(sample(text, 'allowance_authorize_duration_seconds_count{outcome="DENY"}'), 1);
    assert.is(sample(text, 'allowance_authorize_duration_seconds_count{outcome="error"}'), 1);
    assert.is(sample(text, 'allowance_authorize_duration_seconds_bucket{le="+Inf",outcome="ALLOW"}'), 1);
    assert.ok((sample(text, 'allowance_authorize_duration_seconds_sum{outcome="DENY"}') as number) > 0);
    assert.is(sample(text, 'allowance_decisions_total{action="ALLOW",reason="none"}'), 1);
    assert.is(sample(text, 'allowance_decisions_total{action="DENY",reason="per_transaction_limit_exceeded"}'), 1);
    assert.is(sample(text, 'allowance_http_requests_total{method="POST",route="/v1/authorize",status="200"}'), 2);
    assert.is(sample(text, 'allowance_http_requests_total{method="POST",route="/v1/authorize",status="409"}'), 1);
    assert.is(sample(text, 'allowance_org_policy_errors_total'), 0);
    assert.match(text, /# TYPE allowance_policy_shadow_divergences_total counter/);
    assert.is(sample(text, 'allowance_policy_shadow_errors_total'), 0);
  } finally {
    await t.close();
  }
});

metrics('default process metrics: event loop lag, heap, GC, CPU', async () => {
  const t = await startTestApp();
  try {
    await t.call('GET', '/metrics');
    // A collection gives the GC histogram something to count.
    (globalThis as { gc?: () => void }).gc?.();
    const text = (await t.call('GET', '/metrics')).text;
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ]) {
      const value = sample(text, name);
      assert.ok(value !== undefined && Number.isFinite(value), name);
    }
    assert.ok((sample(text, 'nodejs_heap_size_used_bytes') as number) > 0);
    assert.match(text, /# TYPE nodejs_gc_duration_seconds histogram/);
  } finally {
    await t.close();
  }
});

metrics('two apps in one process keep their own series and both export the process metrics', async () => {
  const a = await startTestApp();
  const b = await startTestApp();
  try {
    await a.call('GET', '/healthz');
    await a.call('GET', '/healthz');
    await b.call('GET', '/healthz');
    const textA = (await a.call('GET', '/metrics')).text;
    const textB = (await b.call('GET', '/metrics')).text;
    const healthz = 'allowance_http_requests_total{method="GET",route="/healthz",status="200"}';
    assert.is(sample(textA, healthz), 2);
    assert.is(sample(textB, healthz), 1);
    assert.ok(sample(textA, 'nodejs_heap_size_used_bytes') !== undefined);
    assert.ok(sample(textB, 'nodejs_heap_size_used_bytes') !== undefined);
    assert.is(a.app.services.metrics === b.app.services.metrics, false);
  } finally {
    await a.close();
    await b.close();
  }
});

metrics.run();
