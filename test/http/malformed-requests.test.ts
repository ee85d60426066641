import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { handleClientErrors, silentLogger } from '../../src/http/index.js';
import { makeFixture } from '../support/engine-fixture.js';
import { makeWorld, OPERATOR_CRED, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

/** About 3,300 levels of nesting: what used to overflow the stack while cloning before validation. */
const LEVELS = 3300;
const deepObject = `${'{"a":'.repeat(LEVELS)}1${'}'.repeat(LEVELS)}`;
const deepArray = `${'['.repeat(LEVELS)}${']'.repeat(LEVELS)}`;

let t: TestApp;
let w: World;

const deep = suite('deeply nested JSON bodies');
deep.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
});
deep.after(() => t.close());

deep('every route that takes a body answers 400 nesting_too_deep, never 500', async () => {
  const withBody = t.app.routes.filter((r) => r.body);
  assert.ok(withBody.length >= 20, `${withBody.length} routes with a body`);
  for (const route of withBody) {
    const path = route.path.replace(/:[a-z_]+/g, 'x_1');
    const auth =
      route.roles === 'public'
        ? null
        : route.roles.includes('operator')
          ? OPERATOR_CRED
          : route.roles.includes('enterprise')
            ? w.enterprise
            : w.processor;
    for (const [shape, raw] of [
      ['object', `{"name":"x","metadata":${deepObject}}`],
      ['array', deepArray],
    ]) {
      const res = await t.call(route.method.toUpperCase(), path, {
        auth,
        raw,
        headers: { 'content-type': 'application/json' },
      });
      assert.is(res.status, 400, `${route.method} ${route.path} (${shape}): ${res.text.slice(0, 300)}`);
      assert.is(res.body?.error?.code, 'nesting_too_deep', `${route.method} ${route.path}`);
      assert.ok(res.headers.get('request-id'));
      assertMatches('ErrorResponse', res.body);
    }
  }
});

deep('brackets inside strings do not count, and ordinary bodies still pass', async () => {
  const name = '['.repeat(200);
  const res = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: name.slice(0, 100) } });
  assert.is(res.status, 201, res.text);
  const quoted = await t.call('POST', '/v1/agents', {
    auth: w.enterprise,
    raw: `{"name":"a \\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ b"}`,
    headers: { 'content-type': 'application/json' },
  });
  assert.is(quoted.status, 201, quoted.text);
  // 33 levels is one too many; 32 is accepted by the parser and judged by the schema.
  const limit = (n: number) => `{"name":"x","metadata":${'{"a":'.repeat(n - 1)}1${'}'.repeat(n - 1)}}`;
  const over = await t.call('POST', '/v1/agents', {
    auth: w.enterprise,
    raw: limit(33),
    headers: { 'content-type': 'application/json' },
  });
  assert.is(over.body?.error?.code, 'nesting_too_deep');
  const at = await t.call('POST', '/v1/agents', {
    auth: w.enterprise,
    raw: limit(32),
    headers: { 'content-type': 'application/json' },
  });
  assert.is.not(at.body?.error?.code, 'nesting_too_deep', at.text);
  assert.ok(at.status < 500, at.text);
});

deep.run();

// ---

const engineInput = suite('deeply nested engine inputs');

engineInput('the engine refuses a deep input with nesting_too_deep before cloning it', async () => {
  const f = await makeFixture();
  const value = JSON.parse(deepObject);
  const calls: [string, () => Promise<unknown>][] = [
    ['createAgent', () => f.engine.createAgent(f.org.id, { name: 'x', metadata: value })],
    ['updateAgent', () => f.engine.updateAgent(f.org.id, f.agent.id, { metadata: value })],
    ['createAuthority', () => f.engine.createAuthority(f.org.id, { agent_id: f.agent.id, currency: 'USD', x: value })],
    ['updateAuthority', () => f.engine.updateAuthority(f.org.id, f.authority.id, { limits: value })],
    ['createBinding', () => f.engine.createBinding(f.org.id, { credential: value })],
    ['createProcessor', () => f.engine.createProcessor({ name: value })],
    ['validateIntent', () => f.engine.validateIntent(f.org.id, { agent_id: f.agent.id, merchant: value })],
    ['listAgents', () => f.engine.listAgents(f.org.id, { cursor: value })],
  ];
  for (const [name, call] of calls) {
    try {
      await call();
      assert.unreachable(`${name} accepted a deep input`);
    } catch (err) {
      assert.is((err as { code?: string }).code, 'nesting_too_deep', `${name}: ${String(err)}`);
    }
  }
});

engineInput.run();

// ---

const refused = suite('requests the HTTP parser refuses');
refused.before(async () => {
  t = await startTestApp();
});
refused.after(() => t.close());

/** Writes `raw` on a fresh connection and reads until the server closes it. */
function rawExchange(raw: string): Promise<string> {
  const { port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      text += c;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.write(raw);
  });
}

function parse(text: string): { status: number; headers: Map<string, string>; body: { error?: { code?: string } } } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as const),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

refused('431 headers too large, bad method and a malformed request line carry Request-Id and a code', async () => {
  const cases: [string, string, number, string][] = [
    [
      'headers too large',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    ['bad method', 'FROB /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'malformed_request'],
    ['malformed request line', 'GET\r\n\r\n', 400, 'malformed_request'],
    ['bad header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400, 'malformed_request'],
  ];
  for (const [name, raw, status, code] of cases) {
    const res = parse(await rawExchange(raw));
    assert.is(res.status, status, name);
    assert.match(res.headers.get('request-id') ?? '', /^req_[0-9a-f]{24}$/, name);
    assert.is(res.headers.get('connection'), 'close', name);
    assert.is(res.body.error?.code, code, name);
    assertMatches('ErrorResponse', res.body);
  }
});

refused('a request not received within the request timeout is 408 request_timeout with a Request-Id', async () => {
  const server = createServer({ requestTimeout: 100, connectionsCheckingInterval: 20 }, (_req, res) => res.end());
  handleClientErrors(server, silentLogger);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  try {
    const { port } = server.address() as AddressInfo;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => {
        received += c;
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
      // The headers never end: the server's request timeout runs out.
      socket.write('POST /v1/agents HTTP/1.1\r\nHost: x\r\n');
    });
    const res = parse(text);
    assert.is(res.status, 408);
    assert.is(res.body.error?.code, 'request_timeout');
    assert.match(res.headers.get('request-id') ?? '', /^req_[0-9a-f]{24}$/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  }
});

refused.run();
