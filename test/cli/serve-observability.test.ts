import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { callJson, setupCliWorld, startCli } from '../support/cli-server.js';
import { authorizeBody, type TestCredential } from '../support/http-app.js';

const test = suite('allowance serve: JSON logs, /metrics and OTLP traces from a real process');

test('OTEL_ variables turn traces on; the spans reach the collector by the time the server has stopped', async () => {
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
  const operator: TestCredential = { key_id: 'op_traces', secret: `sk_${randomBytes(24).toString('hex')}` };
  const server = await startCli({
    ALLOWANCE_OPERATOR_KEY_ID: operator.key_id,
    ALLOWANCE_OPERATOR_SECRET: operator.secret,
    LOG_LEVEL: 'info',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    OTEL_SERVICE_NAME: 'allowance-test',
  });
  try {
    const world = await setupCliWorld(server.url, operator, { per_transaction: 50_000 });
    const body = authorizeBody(world.reference);
    const decision = await callJson(server.url, 'POST', '/v1/authorize', world.processor, body);
    assert.is(decision.status, 200);
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    assert.match(metrics, /allowance_authorize_duration_seconds_count\{outcome="ALLOW"\} 1\b/);
    assert.match(metrics, /# TYPE nodejs_eventloop_lag_seconds gauge/);
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    assert.is(exit.code, 0);
    // Every line the process wrote is read once its standard output has closed.
    const stdout = server.child.stdout;
    if (stdout && !stdout.closed) await once(stdout, 'close');

    const lines = server
      .output()
      .split('\n')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    const tracing = lines.find((r) => r.event === 'tracing');
    assert.equal(tracing?.exporters, ['otlp']);
    const authorizeLine = lines.find((r) => r.event === 'request' && r.route === '/v1/authorize');
    assert.is(authorizeLine?.status, 200);
    assert.is(authorizeLine?.level, 'info');
    assert.ok(
      lines.some((r) => r.event === 'stopped'),
      'the last line is written before the process ends',
    );
    assert.not.ok(server.output().includes(world.processor.secret));
    assert.not.ok(server.output().includes(operator.secret));

    type Payload = {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: { name: string; attributes: { key: string; value: { stringValue?: string } }[] }[] }[];
      }[];
    };
    const resourceSpans = received
      .filter((r) => r.path === '/v1/traces')
      .flatMap((r) => (JSON.parse(r.body) as Payload).resourceSpans);
    const service = resourceSpans[0]?.resource.attributes.find((a) => a.key === 'service.name');
    assert.is(service?.value.stringValue, 'allowance-test');
    const spans = resourceSpans.flatMap((r) => r.scopeSpans.flatMap((sc) => sc.spans));
    const authorize = spans.find((x) => x.name === 'allowance.authorize');
    assert.ok(authorize, 'allowance.authorize was exported');
    const attr = (key: string) => authorize.attributes.find((a) => a.key === key)?.value.stringValue;
    assert.is(attr('allowance.org_id'), world.orgId);
    assert.is(attr('allowance.decision.action'), 'ALLOW');
    for (const name of ['POST /v1/authorize', 'allowance.auth', 'allowance.policy.evaluate', 'allowance.sign']) {
      assert.ok(
        spans.some((x) => x.name === name),
        name,
      );
    }
  } finally {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await new Promise<void>((ok) => collector.close(() => ok()));
  }
});

test.run();
