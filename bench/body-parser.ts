// Body reading: the raw-body reader (src/http/middleware/read-json-body.ts) against the hand-written
// reader it replaced, kept here as the baseline, on one Koa server in a child process: POST an authorize
// body to /raw-body and /hand-written in interleaved rounds, same connections and duration.
// Usage: npm run bench:body   (BENCH_ROUNDS=6 BENCH_SECONDS=3 BENCH_CONNECTIONS=16)
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Koa from 'koa';
import { AppError } from '../src/errors/index.js';
import { MAX_BODY_BYTES, readJsonBody } from '../src/http/middleware/read-json-body.js';
import type { AppContext } from '../src/http/types.js';
import { jsonTextTooDeep } from '../src/util/json-depth.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** The hand-written reader the server used before raw-body (same checks). */
async function handWritten(ctx: AppContext, limit = MAX_BODY_BYTES): Promise<unknown> {
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new AppError('payload_too_large', 'too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError('payload_too_large', 'too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) throw new AppError('unsupported_media_type', 'json');
  const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
  if (jsonTextTooDeep(text)) throw new AppError('nesting_too_deep', 'deep');
  return JSON.parse(text);
}

const BODY = JSON.stringify({
  authorization_id: 'pa_8c2e6a4f0b1d4e7a9c3f5b2d',
  credential_reference: 'tok_visa_4242',
  amount: 1850,
  currency: 'USD',
  merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
  metadata: { order: 'ord_1234567890', channel: 'agent' },
});

function serve(): void {
  const app = new Koa();
  app.use(async (c) => {
    const ctx = c as unknown as AppContext;
    const body = (ctx.path === '/raw-body' ? await readJsonBody(ctx) : await handWritten(ctx)) as { amount: number };
    ctx.body = { ok: body.amount };
  });
  const server = app.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

function load(port: number, path: string): Promise<autocannon.Result> {
  return new Promise((ok, fail) =>
    autocannon(
      {
        url: `http://127.0.0.1:${port}${path}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: BODY,
        connections: CONNECTIONS,
        duration: SECONDS,
      },
      (err, result) => (err ? fail(err) : ok(result)),
    ),
  );
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((ok) => child.once('message', (m) => ok((m as { port: number }).port)));
  const runs: Record<string, { rps: number[]; p50: number[]; p99: number[]; errors: number }> = {
    'hand-written': { rps: [], p50: [], p99: [], errors: 0 },
    'raw-body': { rps: [], p50: [], p99: [], errors: 0 },
  };
  try {
    await load(port, '/raw-body'); // warm-up
    await load(port, '/hand-written');
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['hand-written', 'raw-body'] : ['raw-body', 'hand-written'];
      for (const name of order) {
        const r = await load(port, `/${name}`);
        const run = runs[name] as (typeof runs)[string];
        run.rps.push(r.requests.average);
        run.p50.push(r.latency.p50);
        run.p99.push(r.latency.p99);
        run.errors += r.errors + r.non2xx;
      }
    }
  } finally {
    child.kill();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const summary = Object.fromEntries(
    Object.entries(runs).map(([name, r]) => [
      name,
      { rps_median: Math.round(median(r.rps)), p50_ms: median(r.p50), p99_ms: median(r.p99), errors: r.errors },
    ]),
  );
  console.log(
    `body reader, ${ROUNDS} interleaved rounds of ${SECONDS} s, ${CONNECTIONS} connections, ${BODY.length} B`,
  );
  for (const [name, s] of Object.entries(summary)) {
    console.log(
      `${name.padEnd(14)} ${String(s.rps_median).padStart(8)} req/s  p50 ${s.p50_ms} ms  p99 ${s.p99_ms} ms  errors ${s.errors}`,
    );
  }
  console.log(
    JSON.stringify({ bench: 'body-parser', rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, ...summary }),
  );
}

if (process.argv[2] === 'serve') serve();
else await main();
