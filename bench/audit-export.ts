// Audit export benchmark: 1,000,000 linked events in the memory store of a server (child process); the JSON
// export (and the CSV one) streamed over HTTP to a client that discards the bytes, while the server samples
// its own memory every 50 ms. Then the same export read by a client that verifies it as it arrives (a slow
// reader: backpressure), the server-side GET /v1/audit/verify, and for contrast the memory of holding the
// whole export in the server before sending it (what a buffered implementation would do).
// Usage: npm run bench:audit-export   (BENCH_AUDIT_EVENTS=1000000 by default; run with --expose-gc)
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { MemoryAdapter, MemoryCredentialStorage } from '../adapters/memory/index.js';
import { openAuditExport } from '../src/audit/export.js';
import { verifyAuditExport } from '../src/audit/export-reader.js';
import { auditHash } from '../src/audit/hash.js';
import { type AuditEvent, GENESIS_HASH } from '../src/audit/types.js';
import type { VerifyResult } from '../src/audit/verify.js';
import type { Jwks } from '../src/crypto/index.js';
import { createEngine } from '../src/engine/index.js';
import { createApp } from '../src/http/index.js';
import { isoTime } from '../src/util/clock.js';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 1_000_000);
const SAMPLE_MS = 50;
const BATCH = 10_000;
const MB = 1024 * 1024;

interface Mem {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

interface Ready {
  port: number;
  orgId: string;
  keyId: string;
  secret: string;
  fillMs: number;
  baseline: Mem;
  gcExposed: boolean;
}

interface Sampled {
  before: Mem;
  peak: Mem;
  /** After the run and a GC: what the run left behind. */
  after: Mem;
  samples: number;
  /** Peak heapUsed above `before` in each quarter of the run (by sample order), bytes. */
  quarters: number[];
}

const gc = (globalThis as { gc?: () => void }).gc;

function mem(): Mem {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

function settle(): Mem {
  if (gc) {
    gc();
    gc();
  }
  return mem();
}

/**
 * Samples this process's memory every 50 ms, and at every page the store is asked for (a busy export can
 * starve timers), until stopped; keeps the peak of each figure.
 */
function sampler(): { take(): void; stop(): Sampled } {
  const before = settle();
  const peak = { ...before };
  let samples = 0;
  const heapSeries: number[] = [];
  const take = () => {
    const m = mem();
    samples++;
    heapSeries.push(m.heapUsed);
    for (const k of Object.keys(peak) as (keyof Mem)[]) if (m[k] > peak[k]) peak[k] = m[k];
  };
  const timer = setInterval(take, SAMPLE_MS);
  return {
    take,
    stop() {
      clearInterval(timer);
      take();
      // Peak heap of each quarter of the samples: flat memory shows no upward trend.
      const quarters = [0, 1, 2, 3].map((q) => {
        const part = heapSeries.slice(
          Math.floor((q * heapSeries.length) / 4),
          Math.floor(((q + 1) * heapSeries.length) / 4),
        );
        return part.length > 0 ? Math.max(...part) - before.heapUsed : 0;
      });
      return { before, peak, after: settle(), samples, quarters };
    },
  };
}

/** The server: fills the store directly with linked events (correct hashes), then serves the API. */
async function serve(): Promise<void> {
  const store = new MemoryAdapter();
  let active: { take(): void; stop(): Sampled } | null = null;
  const listAuditEvents = store.listAuditEvents.bind(store);
  store.listAuditEvents = (orgId, query) => {
    active?.take();
    return listAuditEvents(orgId, query);
  };
  const engine = createEngine({
    store,
    // The export never evaluates a policy.
    policy: {
      forOrg() {
        throw new Error('no policy in this benchmark');
      },
    },
    audit: { enabled: false },
  });
  await engine.init();
  const org = await engine.createOrg({ name: 'Bench' });
  const started = performance.now();
  let prev = GENESIS_HASH;
  const linkedAt = isoTime(Date.now());
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  for (let first = 1; first <= EVENTS; first += BATCH) {
    const batch: AuditEvent[] = [];
    for (let seq = first; seq < first + BATCH && seq <= EVENTS; seq++) {
      const body = {
        id: `evt_${seq.toString(36).padStart(8, '0')}`,
        org_id: org.id,
        seq,
        at: isoTime(t0 + seq * 250),
        type: seq % 10 === 0 ? 'authorization.captured' : 'authorization.approved',
        actor: 'key_bench',
        subject: { kind: 'authorization', id: `pa_${seq}` },
        agent_id: 'agt_bench',
        payload: {
          action: 'ALLOW',
          amount: 1850 + (seq % 1000),
          currency: 'USD',
          merchant: { id: 'mer_3c7a1b9f', mcc: '5734' },
          reason_codes: [],
        },
        prev_hash: prev,
      };
      const hash = auditHash(body);
      batch.push({ ...body, hash, linked_at: linkedAt });
      prev = hash;
    }
    await store.appendAuditEvents(org.id, batch);
  }
  const fillMs = performance.now() - started;
  const app = createApp({
    engine,
    credentials: new MemoryCredentialStorage(),
    masterKey: randomBytes(32),
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
  });
  await app.start();
  const cred = await app.services.credentials.create('enterprise', org.id, 'bench');
  const baseline = settle();
  const server = createServer(app.callback());
  process.on('message', async (m: { cmd: string }) => {
    if (m.cmd === 'sample') {
      active = sampler();
      process.send?.({ sampling: true });
    } else if (m.cmd === 'sampled') {
      const result = active?.stop();
      active = null;
      process.send?.(result);
    } else if (m.cmd === 'buffered') {
      // The contrast: the whole JSON export held in the server before a byte is sent.
      const s = sampler();
      active = s;
      const opened = await openAuditExport({
        store: engine.context.store,
        orgId: org.id,
        format: 'json',
        sign: engine.context.sign,
        now: Date.now,
      });
      // Held as the chunks the stream makes (no concatenation): the least any buffered export needs.
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of opened.stream) {
        chunks.push(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      s.take();
      const held = mem();
      chunks.length = 0;
      const result = { ...s.stop(), after: held };
      active = null;
      process.send?.({ ...result, bytes });
    } else if (m.cmd === 'exit') {
      server.close();
      process.exit(0);
    }
  });
  server.listen(0, '127.0.0.1', () => {
    const ready: Ready = {
      port: (server.address() as AddressInfo).port,
      orgId: org.id,
      keyId: cred.key_id,
      secret: cred.secret,
      fillMs,
      baseline,
      gcExposed: gc !== undefined,
    };
    process.send?.(ready);
  });
}

function ask<T>(child: ReturnType<typeof fork>, cmd: string): Promise<T> {
  return new Promise((ok) => {
    child.once('message', (m) => ok(m as T));
    child.send({ cmd });
  });
}

const mb = (n: number) => (n / MB).toFixed(1);

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Ready>((ok, fail) => {
    child.once('message', (m) => ok(m as Ready));
    child.once('exit', (code) => fail(new Error(`bench server exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${ready.port}`;
  const auth = () => {
    const now = Math.floor(Date.now() / 1000);
    const token = jwt.sign({ key_id: ready.keyId, iat: now, exp: now + 3600 }, ready.secret, { algorithm: 'HS256' });
    return { authorization: `Bearer ${token}` };
  };
  const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as Jwks;

  interface Run {
    name: string;
    bytes: number;
    seconds: number;
    mem: Sampled;
    note: string;
  }
  const runs: Run[] = [];

  async function discard(format: 'json' | 'csv'): Promise<void> {
    await ask(child, 'sample');
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/audit/export?format=${format}`, { headers: auth() });
    if (res.status !== 200 || !res.body) throw new Error(`export: ${res.status} ${await res.text()}`);
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    const seconds = (performance.now() - t0) / 1000;
    const sampled = await ask<Sampled>(child, 'sampled');
    runs.push({ name: `export ${format}, client discards`, bytes, seconds, mem: sampled, note: '' });
  }

  await discard('json');
  await discard('csv');

  // A client that verifies as it reads (slower than the server: the server must wait, not buffer).
  await ask(child, 'sample');
  let t0 = performance.now();
  const res = await fetch(`${url}/v1/audit/export?format=json`, { headers: auth() });
  let bytes = 0;
  async function* counted(body: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
    for await (const c of body) {
      bytes += c.byteLength;
      yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    }
  }
  const verdict = await verifyAuditExport(counted(res.body as unknown as AsyncIterable<Uint8Array>), { jwks });
  let seconds = (performance.now() - t0) / 1000;
  runs.push({
    name: 'export json, client verifies (CLI code)',
    bytes,
    seconds,
    mem: await ask<Sampled>(child, 'sampled'),
    note: `ok=${verdict.ok} checked=${verdict.checked} signature=${verdict.checkpoint.signature}`,
  });
  if (!verdict.ok || verdict.checked !== EVENTS) throw new Error(`export did not verify: ${JSON.stringify(verdict)}`);

  await ask(child, 'sample');
  t0 = performance.now();
  const verify = (await (await fetch(`${url}/v1/audit/verify`, { headers: auth() })).json()) as VerifyResult;
  seconds = (performance.now() - t0) / 1000;
  runs.push({
    name: 'GET /v1/audit/verify (server)',
    bytes: 0,
    seconds,
    mem: await ask<Sampled>(child, 'sampled'),
    note: `ok=${verify.ok} checked=${verify.checked}`,
  });

  const buffered = await ask<Sampled & { bytes: number }>(child, 'buffered');
  runs.push({
    name: 'contrast: whole JSON export buffered in the server',
    bytes: buffered.bytes,
    seconds: 0,
    mem: buffered,
    note: 'not sent; held at once',
  });
  child.send({ cmd: 'exit' });

  console.log(
    `${EVENTS.toLocaleString('en-US')} events filled in ${(ready.fillMs / 1000).toFixed(1)} s; ` +
      `server baseline after fill${ready.gcExposed ? ' and GC' : ' (no --expose-gc)'}: heapUsed ${mb(ready.baseline.heapUsed)} MB, ` +
      `rss ${mb(ready.baseline.rss)} MB, external ${mb(ready.baseline.external)} MB, arrayBuffers ${mb(ready.baseline.arrayBuffers)} MB`,
  );
  const header = [
    'run'.padEnd(52),
    'MB out'.padStart(8),
    's'.padStart(6),
    'MB/s'.padStart(7),
    'ev/s'.padStart(9),
    'Δheap'.padStart(7),
    'Δrss'.padStart(7),
    'Δext'.padStart(7),
    'Δab'.padStart(7),
    'Δheap kept'.padStart(11),
    'samples'.padStart(8),
    '  Δheap peak by quarter',
  ];
  console.log(`${header.join(' ')}`);
  for (const r of runs) {
    const d = (k: keyof Mem) => mb(r.mem.peak[k] - r.mem.before[k]).padStart(7);
    const cells = [
      r.name.padEnd(52),
      (r.bytes ? mb(r.bytes) : '-').padStart(8),
      (r.seconds ? r.seconds.toFixed(2) : '-').padStart(6),
      (r.seconds && r.bytes ? (r.bytes / MB / r.seconds).toFixed(1) : '-').padStart(7),
      (r.seconds ? Math.round(EVENTS / r.seconds).toLocaleString('en-US') : '-').padStart(9),
      d('heapUsed'),
      d('rss'),
      d('external'),
      d('arrayBuffers'),
      mb(r.mem.after.heapUsed - r.mem.before.heapUsed).padStart(11),
      String(r.mem.samples).padStart(8),
      `  ${r.mem.quarters.map((q) => mb(q)).join(' / ')}`,
    ];
    console.log(`${cells.join(' ')}${r.note ? `   ${r.note}` : ''}`);
  }
  console.log(
    'Δ = peak during the run − before it (after a GC), MB; samples every 50 ms and at every page read. ' +
      'Δheap kept: after the run and a GC (for the buffered contrast: while the export is held).',
  );
  const summary = {
    bench: 'audit-export',
    events: EVENTS,
    fill_s: Math.round(ready.fillMs) / 1000,
    baseline_mb: {
      heap_used: Number(mb(ready.baseline.heapUsed)),
      rss: Number(mb(ready.baseline.rss)),
      external: Number(mb(ready.baseline.external)),
      array_buffers: Number(mb(ready.baseline.arrayBuffers)),
    },
    runs: runs.map((r) => ({
      name: r.name,
      bytes: r.bytes,
      seconds: Math.round(r.seconds * 1000) / 1000,
      peak_delta_mb: {
        heap_used: Number(mb(r.mem.peak.heapUsed - r.mem.before.heapUsed)),
        rss: Number(mb(r.mem.peak.rss - r.mem.before.rss)),
        external: Number(mb(r.mem.peak.external - r.mem.before.external)),
        array_buffers: Number(mb(r.mem.peak.arrayBuffers - r.mem.before.arrayBuffers)),
      },
      heap_kept_after_gc_mb: Number(mb(r.mem.after.heapUsed - r.mem.before.heapUsed)),
      heap_peak_by_quarter_mb: r.mem.quarters.map((q) => Number(mb(q))),
      samples: r.mem.samples,
      note: r.note,
    })),
  };
  console.log(JSON.stringify(summary));
}

if (process.argv.includes('--serve')) {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
