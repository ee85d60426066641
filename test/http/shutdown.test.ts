import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import {
  keepAliveAuthorizeLoad,
  type LoadResult,
  requestsReset,
  setupCliWorld,
  startCli,
} from '../support/cli-server.js';
import { faultyStore } from '../support/faulty-store.js';
import {
  authorizeBody,
  clientToken,
  makeWorld,
  setupSpending,
  startTestApp,
  type TestApp,
  type TestCredential,
  type World,
} from '../support/http-app.js';

interface Answer {
  status: number | null;
  connection: string | null;
  error: string | null;
}

/** POSTs an authorization on `agent`; resolves with the answer or the socket error. */
function authorizeOn(agent: Agent, url: string, auth: TestCredential, body: Record<string, unknown>): Promise<Answer> {
  const target = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: '/v1/authorize',
        headers: {
          authorization: `Bearer ${clientToken(auth)}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? null, connection: res.headers.connection ?? null, error: null }),
        );
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: null, connection: null, error: err.code ?? '' }));
    req.end(payload);
  });
}

/** A gate on the store's usage reservation: requests wait there, after their claim, until it opens. */
async function gatedApp(): Promise<{
  t: TestApp;
  w: World;
  reference: string;
  arrived: (n: number) => Promise<void>;
  open(): void;
  pending(ids: string[]): Promise<string[]>;
}> {
  const faults = faultyStore();
  const t = await startTestApp({}, faults.store);
  const w = await makeWorld(t);
  const { reference } = await setupSpending(w, { per_transaction: 50_000, daily: 10_000_000 });
  let opened!: () => void;
  const gate = new Promise<void>((r) => {
    opened = r;
  });
  let count = 0;
  const waiters: { n: number; done: () => void }[] = [];
  faults.wrap('reserveUsage', async (original, ...args) => {
    count++;
    for (const w of waiters.filter((x) => count >= x.n)) w.done();
    await gate;
    return original(...args);
  });
  return {
    t,
    w,
    reference,
    arrived: (n) =>
      new Promise<void>((done) => {
        if (count >= n) done();
        else waiters.push({ n, done });
      }),
    open: () => opened(),
    async pending(ids) {
      const out: string[] = [];
      for (const id of ids) {
        const record = await faults.inner.getAuthorization(w.processorId, id);
        if (!record || record.status === 'pending') out.push(id);
      }
      return out;
    },
  };
}

const drain = suite('graceful drain');

drain(
  'in-flight requests finish with Connection: close; the listener closes at once, idle sockets soon after',
  async () => {
    const g = await gatedApp();
    const busy = new Agent({ keepAlive: true });
    const idle = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // One kept-alive socket that is idle when the drain starts.
      const warm = await fetchHealth(idle, g.t.url);
      assert.is(warm, 200);
      const idleSocket = Object.values(idle.freeSockets).flat()[0];
      assert.ok(idleSocket, 'a kept-alive idle socket');
      const idleClosed = new Promise<void>((r) => idleSocket.once('close', () => r()));

      const bodies = Array.from({ length: 4 }, () => authorizeBody(g.reference));
      const answers = bodies.map((b) => authorizeOn(busy, g.t.url, g.w.processor, b));
      await g.arrived(bodies.length);
      const drained = g.t.graceful.drain(10_000);
      assert.ok(g.t.graceful.closing);
      await idleClosed;
      // The listener is closed: a new connection is refused.
      const refused = await authorizeOn(new Agent(), g.t.url, g.w.processor, authorizeBody(g.reference));
      assert.is(refused.error, 'ECONNREFUSED');
      assert.is(g.t.graceful.inFlight, bodies.length);

      g.open();
      for (const a of await Promise.all(answers)) {
        assert.equal(a, { status: 200, connection: 'close', error: null });
      }
      assert.equal(await drained, { forcedConnections: 0, handlersTimedOut: false });
      assert.equal(await g.pending(bodies.map((b) => b.authorization_id as string)), []);
    } finally {
      busy.destroy();
      idle.destroy();
      g.open();
      await g.t.close().catch(() => {});
    }
  },
);

drain('past the grace the connections close, but the drain still awaits the requests it took', async () => {
  const g = await gatedApp();
  const busy = new Agent({ keepAlive: true });
  try {
    const bodies = Array.from({ length: 3 }, () => authorizeBody(g.reference));
    const answers = bodies.map((b) =>
      authorizeOn(busy, g.t.url, g.w.processor, b).then((a) => {
        // The connection was closed under the request: let the handlers finish now.
        g.open();
        return a;
      }),
    );
    await g.arrived(bodies.length);
    const drained = await g.t.graceful.drain(50);
    // The held requests' connections, and any kept-alive connection of the set-up calls not idle for long.
    assert.ok(drained.forcedConnections >= bodies.length, String(drained.forcedConnections));
    assert.is(drained.handlersTimedOut, false);
    for (const a of await Promise.all(answers)) assert.is(a.status, null);
    // Every handler finished before the drain resolved: no claim is left pending for the store to keep.
    assert.is(g.t.graceful.inFlight, 0);
    assert.equal(await g.pending(bodies.map((b) => b.authorization_id as string)), []);
  } finally {
    busy.destroy();
    g.open();
    await g.t.close().catch(() => {});
  }
});

function fetchHealth(agent: Agent, url: string): Promise<number | null> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const req = request({ agent, host: target.hostname, port: target.port, path: '/healthz' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? null));
    });
    req.on('error', () => resolve(null));
    req.end();
  });
}

drain('ALLOWANCE_SHUTDOWN_GRACE_MS: 10 s by default, a positive integer of milliseconds', () => {
  assert.is(loadConfig({}).shutdownGraceMs, 10_000);
  assert.is(loadConfig({ ALLOWANCE_SHUTDOWN_GRACE_MS: '2500' }).shutdownGraceMs, 2500);
  for (const bad of ['0', '-1', '1.5', 'soon', '600001']) {
    assert.throws(
      () => loadConfig({ ALLOWANCE_SHUTDOWN_GRACE_MS: bad }),
      (err: unknown) => err instanceof ConfigError,
    );
  }
});

drain.run();

// ---

const sigterm = suite('SIGTERM of the server process under keep-alive load');

sigterm('every request taken before SIGTERM is answered; the process exits 0', async () => {
  const operator: TestCredential = { key_id: 'op_sigterm', secret: `sk_${randomBytes(24).toString('hex')}` };
  const server = await startCli({
    ALLOWANCE_OPERATOR_KEY_ID: operator.key_id,
    ALLOWANCE_OPERATOR_SECRET: operator.secret,
    ALLOWANCE_RATE_LIMIT_RPS: '1000000',
    ALLOWANCE_RATE_LIMIT_BURST: '1000000',
  });
  let results: LoadResult[] = [];
  try {
    const world = await setupCliWorld(server.url, operator, { per_transaction: 50_000, daily: 1_000_000_000 });
    const load = keepAliveAuthorizeLoad({
      url: server.url,
      processor: world.processor,
      reference: world.reference,
      connections: 8,
    });
    results = load.results;
    // Under way: a first batch answered on every connection.
    while (load.results.length < 80) await new Promise<void>((r) => setImmediate(r));
    const cutoff = performance.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    await load.stop();
    assert.equal(exit, { code: 0, signal: null }, server.output());
    const spanning = results.filter((r) => r.startedAt < cutoff && r.finishedAt > cutoff);
    assert.ok(spanning.length > 0, 'requests were in flight when SIGTERM was sent');
    // Nothing fails but the connections refused once the listener is closed: no request is reset.
    const reset = requestsReset(results);
    assert.equal(reset, [], `${reset.length} of ${results.length} requests reset`);
    const before = results.filter((r) => r.startedAt < cutoff);
    assert.ok(
      before.every((r) => r.status === 200),
      JSON.stringify(before.filter((r) => r.status !== 200)[0]),
    );
  } finally {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  }
});

sigterm.run();
