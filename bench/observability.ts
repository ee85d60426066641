// Observability on the authorize path, same run: POST /v1/authorize through the whole app (Koa, processor
// auth, rate limits, JSON body, engine.authorize on the memory store, signing) in one process, three apps on
// one engine that differ only in their logging, metrics and tracing:
//   hand-written: the JSON logger and metrics registry that pino and prom-client replaced (bench/baseline-
//                 observability.ts), one synchronous write per log line (as stdout on a Linux pipe)
//   pino+prom:    the server's logger (pino, asynchronous destination) and metrics (prom-client)
//   +tracing:     the same with an OpenTelemetry SDK tracer provider registered (batch processor, an
//                 exporter that drops the spans), so every span of the request is made and ended
// Every app logs its request line at info to /dev/null. Requests are sequential over keep-alive loopback
// connections, in interleaved rounds (the order rotating each round) so drift of the shared machine hits
// every variant alike; the median over rounds of the ratio of the rounds' median latencies is reported
// beside the percentiles of all samples.
// Usage: npm run bench:observability   (BENCH_ROUNDS=12 BENCH_PER_ROUND=400 BENCH_WARMUP=1000)
import { randomBytes } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import jwt from 'jsonwebtoken';
import pino from 'pino';
import { MemoryAdapter, MemoryCredentialStorage } from '../adapters/memory/index.js';
import { createEngine } from '../src/engine/index.js';
import {
  type AppMetrics,
  createApp,
  createJsonLogger,
  LOG_BUFFER_BYTES,
  type Logger,
  Metrics,
} from '../src/http/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { projectRoot } from '../src/util/project-root.js';
import { tracingActive } from '../src/util/tracing.js';
import { HandWrittenMetrics, handWrittenLogger } from './baseline-observability.js';
import { printTable, summarize } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 400);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);

type VariantName = 'hand-written' | 'pino+prom' | '+tracing';

interface Variant {
  name: VariantName;
  port: number;
  agent: Agent;
  tracing: boolean;
  samples: number[];
  /** The median latency of each round, in µs. */
  roundMedians: number[];
}

function post(v: Variant, path: string, body: string, token: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: v.port,
        method: 'POST',
        path,
        agent: v.agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const policy = await loadPolicy(new Uint8Array(await readFile(join(projectRoot(), 'build/policies/bundle.tar.gz'))));
  const engine = createEngine({ store: new MemoryAdapter(), policy });
  await engine.init();
  const org = await engine.createOrg({ name: 'Bench' });
  const processor = await engine.createProcessor({ name: 'Bench Pay' });
  const agent = await engine.createAgent(org.id, { name: 'buyer' });
  const authority = await engine.createAuthority(org.id, { agent_id: agent.id, currency: 'USD' });
  const reference = 'tok_bench';
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference },
  });
  const credentials = new MemoryCredentialStorage();
  const masterKey = randomBytes(32);
  const devNull = openSync('/dev/null', 'w');

  const servers: Server[] = [];
  const build = async (name: VariantName, logger: Logger, metrics: AppMetrics, tracing: boolean) => {
    const app = createApp({
      engine,
      credentials,
      masterKey,
      logger,
      metrics,
      rateLimit: { perSecond: 10_000_000, burst: 10_000_000 },
      addressRateLimit: { perSecond: 10_000_000, burst: 10_000_000 },
    });
    const server = createServer(app.callback());
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    servers.push(server);
    return {
      app,
      variant: {
        name,
        port: (server.address() as AddressInfo).port,
        agent: new Agent({ keepAlive: true, maxSockets: 1 }),
        tracing,
        samples: [],
        roundMedians: [],
      } as Variant,
    };
  };
  const hand = await build(
    'hand-written',
    handWrittenLogger('info', (line) => writeSync(devNull, line)),
    new HandWrittenMetrics(),
    false,
  );
  const lib = await build(
    'pino+prom',
    createJsonLogger('info', pino.destination({ dest: '/dev/null', sync: false, minLength: LOG_BUFFER_BYTES })),
    new Metrics(),
    false,
  );
  const traced = await build(
    '+tracing',
    createJsonLogger('info', pino.destination({ dest: '/dev/null', sync: false, minLength: LOG_BUFFER_BYTES })),
    new Metrics(),
    true,
  );
  // Each app's background work, as a server runs it (the engine's audit chainer starts once).
  for (const x of [hand, lib, traced]) await x.app.start();
  const cred = await hand.app.services.credentials.create('processor', processor.id, 'bench');
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign({ key_id: cred.key_id, iat: now, exp: now + 3600 }, cred.secret, { algorithm: 'HS256' });

  let spansExported = 0;
  const provider = new NodeTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        export(spans, done) {
          spansExported += spans.length;
          done({ code: 0 });
        },
        shutdown: () => Promise.resolve(),
      }),
    ],
  });
  const tracingOn = (on: boolean) => {
    if (on) provider.register();
    else {
      trace.disable();
      context.disable();
      propagation.disable();
    }
  };

  let seq = 0;
  const body = () =>
    JSON.stringify({
      authorization_id: `pa_obs_${++seq}`,
      credential_reference: reference,
      amount: 1850,
      currency: 'USD',
      merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
      channel: 'online',
    });
  const run = async (v: Variant, n: number, keep: boolean) => {
    tracingOn(v.tracing);
    if (tracingActive() !== v.tracing) throw new Error('tracing switch failed');
    const round: number[] = [];
    for (let i = 0; i < n; i++) {
      const b = body();
      const t0 = process.hrtime.bigint();
      const status = await post(v, '/v1/authorize', b, token);
      const ns = Number(process.hrtime.bigint() - t0);
      if (status !== 200) throw new Error(`${v.name}: authorize answered ${status}`);
      if (keep) round.push(ns);
    }
    if (keep) {
      v.samples.push(...round);
      v.roundMedians.push(median(round) / 1000);
    }
    tracingOn(false);
  };

  const variants = [hand.variant, lib.variant, traced.variant];
  for (const v of variants) await run(v, WARMUP, false);
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant);
    for (const v of order) await run(v, PER_ROUND, true);
  }

  // What tracing costs while it is off: the provider check each helper makes before anything else.
  const checks = 2_000_000;
  const c0 = process.hrtime.bigint();
  let on = 0;
  for (let i = 0; i < checks; i++) if (tracingActive()) on++;
  const checkNs = Number(process.hrtime.bigint() - c0) / checks;
  if (on !== 0) throw new Error('tracing was on during the check loop');

  const ratios = (a: Variant, b: Variant) => a.roundMedians.map((x, i) => x / (b.roundMedians[i] as number));
  const stats = variants.map((v) => ({ v, s: summarize(v.samples) }));
  printTable(
    stats.map(({ v, s }) => ({
      variant: v.name,
      n: s.n,
      'p50 µs': s.p50_us,
      'p90 µs': s.p90_us,
      'p99 µs': s.p99_us,
      'mean µs': s.mean_us,
    })),
  );
  const libVsHand = ratios(lib.variant, hand.variant);
  const traceVsLib = ratios(traced.variant, lib.variant);
  await provider.forceFlush();
  const round3 = (x: number) => Math.round(x * 1000) / 1000;
  const summary = {
    bench: 'observability',
    rounds: ROUNDS,
    per_round: PER_ROUND,
    hand_written_p50_us: stats[0]?.s.p50_us,
    pino_prom_p50_us: stats[1]?.s.p50_us,
    tracing_p50_us: stats[2]?.s.p50_us,
    hand_written_mean_us: stats[0]?.s.mean_us,
    pino_prom_mean_us: stats[1]?.s.mean_us,
    tracing_mean_us: stats[2]?.s.mean_us,
    pino_prom_vs_hand_written: round3(median(libVsHand)),
    pino_prom_vs_hand_written_rounds: libVsHand.map(round3),
    tracing_vs_off: round3(median(traceVsLib)),
    tracing_vs_off_rounds: traceVsLib.map(round3),
    spans_exported: spansExported,
    tracing_off_check_ns: Math.round(checkNs * 10) / 10,
  };
  console.log(JSON.stringify(summary));
  await provider.shutdown();
  for (const v of variants) v.agent.destroy();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((ok) => s.close(() => ok()));
  }
  await hand.app.stop();
  await lib.app.stop();
  await traced.app.stop();
  await engine.close();
}

await main();
