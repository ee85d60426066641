// The SQLite store's footprint over a long run: RSS every 25,000 decisions up to BENCH_DECISIONS (default
// 200,000) with the audit chainer linking in the background as on a server, and the database's bytes per
// decision (file + WAL after a checkpoint). Memory store beside it for the same count as the baseline.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { createEngine } from '../src/engine/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { buildPolicyBundle } from '../src/policy-build/index.js';
import type { StorageAdapter } from '../src/storage/index.js';
import { printTable } from './stats.js';

const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 200_000);
const STEP = 25_000;
const IN_FLIGHT = 8;

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function fileSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

async function runOn(store: StorageAdapter, policy: Awaited<ReturnType<typeof loadPolicy>>, label: string) {
  const engine = createEngine({ store, policy });
  await engine.init();
  engine.startBackground();
  const org = await engine.createOrg({ name: 'Footprint Org' });
  const processor = await engine.createProcessor({ name: 'Footprint Processor' });
  const agent = await engine.createAgent(org.id, { name: 'agent' });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 100_000, daily: 1e13, weekly: 1e13, monthly: 1e13, total: 1e14 },
    velocity: { daily: 1e9 },
  });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference: 'tok_footprint', last4: '4242' },
  });
  const rows: Record<string, string | number>[] = [];
  global.gc?.();
  const startRss = process.memoryUsage().rss;
  rows.push({ store: label, decisions: 0, rss_mb: mb(startRss) });
  let next = 0;
  const worker = async (limit: number) => {
    while (next < limit) {
      const i = next++;
      await engine.authorize(processor.id, {
        authorization_id: `pa_fp_${i}`,
        credential_reference: 'tok_footprint',
        amount: 1000 + (i % 100),
        currency: 'USD',
        merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
      });
    }
  };
  for (let done = STEP; done <= DECISIONS; done += STEP) {
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker(done)));
    await engine.audit.chainer.drain();
    global.gc?.();
    rows.push({ store: label, decisions: done, rss_mb: mb(process.memoryUsage().rss) });
  }
  await engine.close();
  return { rows, startRss, endRss: process.memoryUsage().rss };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-footprint-'));
  try {
    const { outFile } = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz') });
    const policy = await loadPolicy(new Uint8Array(await readFile(outFile)));
    const which = process.env.BENCH_STORE ?? 'sqlite';
    let result: Awaited<ReturnType<typeof runOn>>;
    let bytesPerDecision: number | null = null;
    if (which === 'memory') {
      result = await runOn(new MemoryAdapter(), policy, 'memory');
    } else {
      const path = join(dir, 'footprint.db');
      result = await runOn(new SqliteAdapter({ path }), policy, 'sqlite');
      const db = new SqliteAdapter({ path });
      db.db.pragma('wal_checkpoint(TRUNCATE)');
      await db.close();
      const bytes = (await fileSize(path)) + (await fileSize(`${path}-wal`));
      bytesPerDecision = Math.round(bytes / DECISIONS);
      console.log(`database: ${mb(bytes)} MB for ${DECISIONS} decisions (${bytesPerDecision} bytes per decision)`);
    }
    printTable(result.rows);
    console.log(
      JSON.stringify({
        bench: 'footprint',
        store: which,
        decisions: DECISIONS,
        rss_start_mb: mb(result.startRss),
        rss_end_mb: mb(result.endRss),
        bytes_per_decision: bytesPerDecision,
        targets: { rss_end_mb: 200 },
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
