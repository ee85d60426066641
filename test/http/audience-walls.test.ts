// Every mounted route sits behind exactly one role wall, the one its `roles` declare, enforced by its router.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Audience, audienceRouter, type RouteSpec } from '../../src/http/route.js';
import { makeWorld, OPERATOR_CRED, startTestApp, type TestCredential } from '../support/http-app.js';

const test = suite('HTTP: one role wall per audience router');

/**
 * The routes anyone may call without a credential. A route added to the public list must be added here
 * too, on purpose: the unauthenticated surface never grows by a misplaced line.
 */
const PUBLIC = [
  'GET /.well-known/jwks.json',
  'GET /healthz',
  'GET /metrics',
  'GET /openapi.json',
  'GET /readyz',
  'GET /v1/approval-links/:token',
  'POST /v1/approval-links/:token',
  'POST /v1/auth/token',
  'POST /v1/bridges/lithic-asa/:org_id',
  'POST /v1/bridges/lithic-events/:org_id',
  'POST /v1/bridges/stripe-issuing/:org_id',
  'POST /v1/tokens/verify',
  'POST /v1/tokens/verify-batch',
];

const ROLES = ['enterprise', 'processor', 'operator'] as const;

/** A concrete path of a route pattern: every parameter gets a well-formed id that names nothing. */
const concrete = (path: string) => path.replace(/:([a-z_]+)/g, (_m, name: string) => `${name.slice(0, 3)}_nothere`);

const key = (r: RouteSpec) => `${r.method.toUpperCase()} ${r.path}`;

test('the public router holds exactly the public routes, and every route is mounted once', async () => {
  const t = await startTestApp();
  try {
    const audiences = t.app.audiences;
    const names = audiences.map((a) => a.name);
    assert.equal(names, [
      'public',
      'operator',
      'enterprise',
      'processor',
      'enterprise or operator',
      'enterprise or processor',
      'any credential',
    ]);
    const publicRoutes = (audiences.find((a) => a.wall === 'public') as Audience).routes.map(key).sort();
    assert.equal(publicRoutes, PUBLIC);
    const all = audiences.flatMap((a) => a.routes.map(key));
    assert.is(new Set(all).size, all.length, 'a route is mounted twice');
    assert.equal(all.sort(), t.app.routes.map(key).sort());
  } finally {
    await t.close();
  }
});

test('each mounted route answers each role as its wall says: in, 403 forbidden, or 401 without a credential', async () => {
  const t = await startTestApp();
  try {
    const w = await makeWorld(t);
    const creds: Record<(typeof ROLES)[number], TestCredential> = {
      enterprise: w.enterprise,
      processor: w.processor,
      operator: OPERATOR_CRED,
    };
    const wrong: string[] = [];
    let walled = 0;
    for (const audience of t.app.audiences) {
      for (const route of audience.routes) {
        const path = concrete(route.path);
        const method = route.method.toUpperCase();
        const anonymous = await t.call(method, path, {});
        const anonCode = anonymous.body?.error?.code;
        if (audience.wall === 'public') {
          if (anonCode === 'unauthorized' || anonCode === 'forbidden')
            wrong.push(`${key(route)}: anonymous ${anonCode}`);
          continue;
        }
        walled++;
        if (anonymous.status !== 401 || anonCode !== 'unauthorized') {
          wrong.push(`${key(route)}: anonymous ${anonymous.status} ${anonCode}`);
        }
        for (const role of ROLES) {
          const res = await t.call(method, path, { auth: creds[role] });
          const code = res.body?.error?.code;
          const admitted = audience.wall.includes(role);
          if (admitted && (code === 'unauthorized' || code === 'forbidden'))
            wrong.push(`${key(route)}: ${role} ${code}`);
          if (!admitted && (res.status !== 403 || code !== 'forbidden')) {
            wrong.push(`${key(route)}: ${role} ${res.status} ${code}`);
          }
        }
      }
    }
    assert.ok(walled > 40);
    assert.equal(wrong, []);
  } finally {
    await t.close();
  }
});

test('a route mounted behind a wall its roles do not name refuses to mount', () => {
  const hooks = { authenticate: [], rateLimit: () => {}, limitAddress: () => {} };
  const route = (roles: RouteSpec['roles']): RouteSpec => ({
    method: 'post',
    path: '/v1/_walls/probe',
    operationId: 'probe',
    summary: 'probe',
    tag: 'probe',
    roles,
    success: { status: 204, schema: null },
    handle: () => null,
  });
  const mount = (wall: Audience['wall'], roles: RouteSpec['roles']) => () =>
    audienceRouter({ name: 'probe', wall, routes: [route(roles)] }, hooks);
  assert.throws(mount(['enterprise'], ['operator']), /mounted behind the probe wall/);
  assert.throws(mount(['enterprise'], 'public'), /mounted behind the probe wall/);
  assert.throws(mount('public', ['processor']), /mounted behind the probe wall/);
  assert.throws(mount(['enterprise'], ['enterprise', 'processor']), /mounted behind the probe wall/);
  assert.not.throws(mount(['processor', 'enterprise'], ['enterprise', 'processor']));
  assert.not.throws(mount('public', 'public'));
});

test('a request for a path another router serves with another method still gets 405 with Allow', async () => {
  const t = await startTestApp();
  try {
    const res = await t.call('PUT', '/v1/authorize', {});
    assert.is(res.status, 405);
    assert.is(res.headers.get('allow'), 'POST');
    const both = await t.call('PATCH', '/v1/credentials', {});
    assert.is(both.status, 405);
    assert.equal((both.headers.get('allow') ?? '').split(', ').sort(), ['GET', 'HEAD', 'POST']);
  } finally {
    await t.close();
  }
});

test.run();
