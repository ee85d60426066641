import { mkdtemp, readFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { createEngine } from '../src/engine/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { buildPolicyBundle } from '../src/policy-build/index.js';
import { benchRequest, benchWorld } from './bench-world.js';

/**
 * Bytes allocated by one `engine.authorize` on the memory store (audit on), and which functions allocate
 * them: V8's sampling heap profiler over N plain approvals, counting objects a scavenge or a full GC has
 * already collected. The figure is the sampled estimate of every byte allocated on the JavaScript heap
 * (not what is retained: see `memory_bytes_per_decision` of bench:engine). Run with `--expose-gc`.
 */
const N = Number(process.env.BENCH_N ?? 5_000);
const WARMUP = Math.min(5_000, N);
const TOP = Number(process.env.BENCH_TOP ?? 15);
const INTERVAL = 256;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-bench-'));
  const { outFile } = await buildPolicyBundle({ outFile: join(dir, 'bundle.tar.gz') });
  const policy = await loadPolicy(new Uint8Array(await readFile(outFile)));
  const engine = createEngine({ store: new MemoryAdapter(), policy, audit: { enabled: true } });
  await engine.init();
  const processor = { id: (await benchWorld(engine)).processorId };
  // Bodies made before the measured window, so that only authorize's own allocations are counted.
  const bodies = Array.from({ length: WARMUP + N }, (_, i) => benchRequest('pa_alloc', i));
  for (let i = 0; i < WARMUP; i++) {
    const d = await engine.authorize(processor.id, bodies[i]);
    if (d.action !== 'ALLOW') throw new Error(`bench setup: expected ALLOW, got ${d.action}`);
  }
  (globalThis as { gc?: () => void }).gc?.();

  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: INTERVAL,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let i = WARMUP; i < WARMUP + N; i++) await engine.authorize(processor.id, bodies[i]);
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  session.disconnect();

  const bySite = new Map<string, number>();
  let total = 0;
  const stack: ProfileNode[] = [profile.head];
  for (let node = stack.pop(); node; node = stack.pop()) {
    total += node.selfSize;
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const file = url.replace(/^.*\/(build|node_modules)\//, '');
      const site = `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    stack.push(...node.children);
  }
  const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  console.log(`bytes allocated per authorize, by allocating function (sampled every ${INTERVAL} B, n=${N}):`);
  for (const [site, bytes] of top) console.log(`${String(Math.round(bytes / N)).padStart(8)}  ${site}`);
  console.log(JSON.stringify({ bench: 'alloc', n: N, authorize_alloc_bytes: Math.round(total / N) }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
