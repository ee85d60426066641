import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestApp } from '../support/http-app.js';

const s = suite('openapi and metrics');

s('/openapi.json documents every mounted route with its responses and the error envelope', async () => {
  const t = await startTestApp();
  try {
    const doc = (await t.call('GET', '/openapi.json')).body;
    assert.is(doc.openapi, '3.1.0');
    for (const r of t.app.routes) {
      const path = r.path.replace(/:([a-z_]+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method];
      assert.ok(op, `${r.method} ${path} is documented`);
      assert.ok(op.responses[String(r.success.status)], `${r.operationId} success response`);
      if (r.roles !== 'public') {
        assert.ok(op.responses['401'] && op.responses['403'] && op.responses['429'], r.operationId);
        assert.equal(op.security, [{ bearerAuth: [] }, { apiKeyAuth: [] }]);
      }
      if (r.body) assert.ok(op.requestBody, `${r.operationId} body`);
    }
    for (const path of ['/v1/authorize', '/v1/agents', '/v1/tokens/verify', '/v1/auth/token', '/readyz']) {
      assert.ok(doc.paths[path], path);
    }
    assert.not.ok(doc.paths['/v1/_bench/echo']);
    // Every $ref resolves.
    const text = JSON.stringify(doc);
    for (const m of text.matchAll(/"\$ref":"#\/components\/(schemas|responses)\/([^"]+)"/g)) {
      assert.ok(doc.components[m[1] as string][m[2] as string], `${m[1]}/${m[2]}`);
    }
    assert.ok(doc.components.schemas.AuthorizeRequest.properties.authorization_id);
    assert.ok(doc.components.schemas.ErrorResponse);
    assert.not.ok(text.includes('"$id"'));
  } finally {
    await t.close();
  }
});

s('/metrics speaks the Prometheus text format and counts requests by route and status', async () => {
  const t = await startTestApp();
  try {
    await t.call('GET', '/healthz');
    await t.call('GET', '/v1/agents');
    const res = await t.call('GET', '/metrics');
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(res.text, /# TYPE allowance_http_requests_total counter/);
    assert.match(res.text, /allowance_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
    assert.match(res.text, /allowance_http_requests_total\{method="GET",route="\/v1\/agents",status="401"\} 1/);
    assert.match(res.text, /# TYPE allowance_authorize_duration_seconds histogram/);
  } finally {
    await t.close();
  }
});

s.run();
