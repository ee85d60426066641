import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RouteSpec } from '../../src/http/index.js';
import { makeWorld, startTestApp } from '../support/http-app.js';

const test = suite('createApp extraRoutes: mounted with the API auth, absent from OpenAPI');

const echo: RouteSpec = {
  method: 'post',
  path: '/v1/_extra/echo',
  operationId: 'extraEcho',
  summary: 'echo',
  tag: 'extra',
  roles: ['processor'],
  body: { schema: { $id: 'ExtraEcho', type: 'object' } as { $id: string } },
  success: { status: 200, schema: null },
  handle: () => ({ ok: true }),
};

test('an extra route answers a processor, refuses other roles, and is not documented', async () => {
  const t = await startTestApp({ extraRoutes: [echo] });
  try {
    const w = await makeWorld(t);
    const ok = await t.call('POST', '/v1/_extra/echo', { auth: w.processor, body: {} });
    assert.is(ok.status, 200);
    assert.equal(ok.body, { ok: true });
    const anon = await t.call('POST', '/v1/_extra/echo', { body: {} });
    assert.is(anon.body.error.code, 'unauthorized');
    const enterprise = await t.call('POST', '/v1/_extra/echo', { auth: w.enterprise, body: {} });
    assert.is(enterprise.status, 403);
    const doc = await t.call('GET', '/openapi.json', {});
    assert.not.ok(doc.body.paths['/v1/_extra/echo']);
  } finally {
    await t.close();
  }
});

test('without extraRoutes the benchmark route is not mounted', async () => {
  const t = await startTestApp();
  try {
    const w = await makeWorld(t);
    const res = await t.call('POST', '/v1/_bench/echo', { auth: w.processor, body: {} });
    assert.is(res.body.error.code, 'not_found');
  } finally {
    await t.close();
  }
});

test.run();
