/** A tiny Prometheus registry: counters and histograms with labels, rendered in the text format 0.0.4. */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

/** A monotonically increasing counter per label set. */
export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

/** A cumulative histogram per label set; bucket bounds in the unit of the observed values. */
export class Histogram {
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

/** The metrics the server exports on /metrics. */
export class Metrics {
  readonly httpRequests = new Counter('allowance_http_requests_total', 'HTTP requests by method, route and status.');
  readonly authorizeSeconds = new Histogram(
    'allowance_authorize_duration_seconds',
    'Time spent in engine.authorize, in seconds.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  );
  readonly decisions = new Counter('allowance_decisions_total', 'Authorization decisions by action and reason code.');
  readonly shadowDivergences = new Counter(
    'allowance_policy_shadow_divergences_total',
    'Live decisions on which a shadow policy revision would have decided otherwise, by transition (ACTIVE->CANDIDATE).',
  );
  readonly shadowErrors = new Counter(
    'allowance_policy_shadow_errors_total',
    'Shadow policy evaluations that threw or returned an invalid decision (counted as a policy_error DENY).',
  );
  /** Read at render time: org policy evaluations that failed (each a DENY policy_error). */
  orgPolicyErrors: () => number = () => 0;
  /** Read at render time: times an org's monthly decisions went past its plan (decisions still issued). */
  quotaOverages: () => number = () => 0;

  /** Prometheus text exposition of every metric. */
  render(): string {
    const policyErrors = [
      '# HELP allowance_org_policy_errors_total Org policy evaluations that threw or returned an invalid decision (each a DENY policy_error).',
      '# TYPE allowance_org_policy_errors_total counter',
      `allowance_org_policy_errors_total ${this.orgPolicyErrors()}`,
      "# HELP allowance_quota_overages_total Times an org's decisions of a month went past its plan (counted by this server; decisions are still issued and signed).",
      '# TYPE allowance_quota_overages_total counter',
      `allowance_quota_overages_total ${this.quotaOverages()}`,
    ].join('\n');
    const counters = [
      this.httpRequests,
      this.authorizeSeconds,
      this.decisions,
      this.shadowDivergences,
      this.shadowErrors,
    ];
    return `${counters.map((m) => m.render()).join('\n')}\n${policyErrors}\n`;
  }
}
