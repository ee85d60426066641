import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestApp, type TestApp } from '../support/http-app.js';

let t: TestApp;
const docs = suite('API explorer at /docs');
docs.before(async () => {
  t = await startTestApp();
});
docs.after(() => t.close());

const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

docs('the page loads Swagger UI from this server only, with no inline script', async () => {
  for (const path of ['/docs', '/docs/']) {
    const res = await t.call('GET', path);
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /connect-src 'self'/);
    const scripts = [...res.text.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    assert.equal(scripts, [' src="/docs/swagger-ui-bundle.js"', ' src="/docs/init.js"']);
    for (const m of res.text.matchAll(/(?:src|href)="([^"]+)"/g)) {
      assert.ok(m[1]?.startsWith('/docs/'), `${m[1]} is not served by this server`);
    }
  }
  const init = await t.call('GET', '/docs/init.js');
  assert.is(init.status, 200);
  assert.match(init.text, /url: '\/openapi\.json'/);
});

docs('assets are the files of the installed swagger-ui-dist, with their types', async () => {
  const cases: Array<[string, RegExp]> = [
    ['swagger-ui-bundle.js', /^text\/javascript/],
    ['swagger-ui.css', /^text\/css/],
    ['favicon-32x32.png', /^image\/png/],
  ];
  for (const [name, type] of cases) {
    const res = await fetch(`${t.url}/docs/${name}`);
    assert.is(res.status, 200, name);
    assert.match(res.headers.get('content-type') ?? '', type);
    assert.is(res.headers.get('x-content-type-options'), 'nosniff');
    const served = Buffer.from(await res.arrayBuffer());
    assert.ok(served.equals(await readFile(join(dist, name))), `${name} differs from the package's file`);
  }
});

docs('nothing else under /docs is served: other package files, traversal, other methods', async () => {
  for (const path of [
    '/docs/swagger-ui-bundle.js.map',
    '/docs/package.json',
    '/docs/../package.json',
    '/docs/%2e%2e/package.json',
    '/docs/%2e%2e%2fpackage.json',
    '/docs/index.html',
  ]) {
    const res = await t.call('GET', path);
    assert.is(res.status, 404, path);
    assert.is(res.body?.error?.code, 'not_found', path);
  }
  const post = await t.call('POST', '/docs', { body: {} });
  assert.is(post.body?.error?.code, 'not_found');
});

docs.run();
