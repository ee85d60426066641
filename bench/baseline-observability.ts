// The hand-written logger and metrics registry that pino and prom-client replaced, kept only as the
// same-run baseline of bench/observability.ts (unchanged but for the AppMetrics wiring).
import type { AppMetrics, Logger } from '../src/http/index.js';
import type { Decision } from '../src/types.js';

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** The hand-written registry (unlabelled latency histogram, as it was), behind the AppMetrics interface. */
export class HandWrittenMetrics implements AppMetrics {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  readonly httpRequests = new Counter('allowance_http_requests_total', 'HTTP requests by method, route and status.');
  readonly authorizeSeconds = new Histogram(
    'allowance_authorize_duration_seconds',
    'Time spent in engine.authorize, in seconds.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );
  readonly decisions = new Counter('allowance_decisions_total', 'Authorization decisions by action and reason code.');
  readonly shadowDivergences = new Counter('allowance_policy_shadow_divergences_total', 'Shadow divergences.');
  readonly shadowErrors = new Counter('allowance_policy_shadow_errors_total', 'Shadow errors.');

  request(method: string, route: string, status: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
  }
  authorize(seconds: number, decision: Decision | null): void {
    if (!decision) return;
    this.authorizeSeconds.observe(seconds);
    if (decision.reason_codes.length === 0) this.decisions.inc({ action: decision.action, reason: 'none' });
    for (const reason of decision.reason_codes) this.decisions.inc({ action: decision.action, reason });
  }
  shadowDivergence(transition: string): void {
    this.shadowDivergences.inc({ transition });
  }
  shadowError(): void {
    this.shadowErrors.inc();
  }
  render(): Promise<string> {
    const all = [this.httpRequests, this.authorizeSeconds, this.decisions, this.shadowDivergences, this.shadowErrors];
    return Promise.resolve(`${all.map((m) => m.render()).join('\n')}\n`);
  }
}

const RANK = { debug: 10, info: 20, warn: 30, error: 40 } as const;

/** The hand-written JSON logger: one JSON.stringify and one synchronous write per record. */
export function handWrittenLogger(level: keyof typeof RANK, write: (line: string) => void): Logger {
  const min = RANK[level];
  const emit = (lvl: keyof typeof RANK) => (event: string, fields: Record<string, unknown>) => {
    if (RANK[lvl] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, event, ...fields })}\n`);
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    flush: () => Promise.resolve(),
  };
}
