/** Percentiles (in microseconds) of a list of nanosecond samples. */
export function summarize(samplesNs: number[]): {
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  n: number;
} {
  const sorted = Float64Array.from(samplesNs).sort();
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) / 1000;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length / 1000;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    p50_us: round(at(0.5)),
    p90_us: round(at(0.9)),
    p99_us: round(at(0.99)),
    mean_us: round(mean),
    n: sorted.length,
  };
}

/** Runs `fn` `warmup` times unmeasured, then `n` times measured one by one; returns the samples in ns. */
export async function sample(n: number, warmup: number, fn: (i: number) => unknown): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = fn(warmup + i);
    if (r instanceof Promise) await r;
    out[i] = Number(process.hrtime.bigint() - t0);
  }
  return out;
}

/** Prints rows as an aligned table. */
export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as object);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i] as number)).join('  ');
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
}
