// The routers of the app as one dispatch: a route without path parameters is served by its own router
// without the routers mounted before it matching the request; everything else goes through them in order.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dispatchRouters } from '../../src/http/route.js';
import { authorizeBody, makeWorld, setupSpending, startTestApp } from '../support/http-app.js';

const test = suite('HTTP: router dispatch');

/** Counts the route matching of each router it is given, by name. */
function countMatches(routers: Record<string, Router>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [name, router] of Object.entries(routers)) {
    counts[name] = 0;
    const match = router.match.bind(router);
    router.match = (path: string, method: string) => {
      counts[name] = (counts[name] ?? 0) + 1;
      return match(path, method);
    };
  }
  return counts;
}

test('a static route is served by its router alone; one an earlier router serves stays with it', async () => {
  const first = new Router();
  first.get('/v1/things/:id', (ctx) => {
    ctx.body = { by: 'first', id: ctx.params.id };
  });
  const second = new Router();
  // Shadowed by the first router's parameter route: the chain answers it from the first router.
  second.get('/v1/things/special', (ctx) => {
    ctx.body = { by: 'second' };
  });
  second.post('/v1/pay', (ctx) => {
    ctx.body = { by: 'second' };
  });
  const app = new Koa();
  app.use(dispatchRouters([first, second]));
  app.use(first.allowedMethods());
  const server = createServer(app.callback());
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const counts = countMatches({ first, second });
    const pay = await fetch(`${url}/v1/pay`, { method: 'POST' });
    assert.equal(await pay.json(), { by: 'second' });
    assert.equal(counts, { first: 0, second: 1 });

    const special = await fetch(`${url}/v1/things/special`);
    assert.equal(await special.json(), { by: 'first', id: 'special' });
    // Other spellings koa-router accepts still go through every router in order.
    const slash = await fetch(`${url}/v1/pay/`, { method: 'POST' });
    assert.equal(await slash.json(), { by: 'second' });
    const wrongMethod = await fetch(`${url}/v1/pay`, { method: 'DELETE' });
    assert.is(wrongMethod.status, 405);
    const missing = await fetch(`${url}/v1/nothing`, { method: 'POST' });
    assert.is(missing.status, 404);
  } finally {
    await new Promise<void>((ok) => server.close(() => ok()));
  }
});

test('POST /v1/authorize is matched by the processor router only, behind its wall', async () => {
  const t = await startTestApp();
  try {
    const w = await makeWorld(t);
    const { reference } = await setupSpending(w);
    // Every router of the app counts its matching from here on.
    let count = 0;
    const original = Router.prototype.match;
    Router.prototype.match = function (this: Router, path: string, method: string) {
      count++;
      return original.call(this, path, method);
    };
    try {
      const res = await t.call('POST', '/v1/authorize', { auth: w.processor, body: authorizeBody(reference) });
      assert.is(res.status, 200);
      assert.is(res.body.action, 'ALLOW');
      assert.is(count, 1, 'one router matched the request');
      const denied = await t.call('POST', '/v1/authorize', { auth: w.enterprise, body: authorizeBody(reference) });
      assert.is(denied.status, 403);
      assert.is(denied.body.error.code, 'forbidden');
      const anonymous = await t.call('POST', '/v1/authorize', { body: authorizeBody(reference) });
      assert.is(anonymous.status, 401);
    } finally {
      Router.prototype.match = original;
    }
  } finally {
    await t.close();
  }
});

test.run();
