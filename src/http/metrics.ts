import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Decision } from '../types.js';

/** What the app records and serves on /metrics; {@link Metrics} is the implementation (prom-client). */
export interface AppMetrics {
  /** One answered request, by method, matched route template and status. */
  request(method: string, route: string, status: number): void;
  /** One engine.authorize: its duration and decision, or `null` when it threw. */
  authorize(seconds: number, decision: Decision | null): void;
  /** A live decision a shadow policy revision would have decided otherwise (ACTIVE->CANDIDATE). */
  shadowDivergence(transition: string): void;
  /** A shadow evaluation that failed. */
  shadowError(): void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  /** The Content-Type of {@link render}'s text. */
  readonly contentType: string;
}

/** Bucket bounds of the authorize latency histogram, in seconds (0.5 ms … 1 s). */
export const AUTHORIZE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * The metrics of one app on its own prom-client Registry (two apps in one process never share a series):
 * requests, authorize latency by outcome, decisions, policy errors and shadow divergences, and the
 * process's default metrics (CPU, memory, heap, event loop lag, GC), collected from the first scrape on.
 */
export class Metrics implements AppMetrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  readonly httpRequests = new Counter({
    name: 'allowance_http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly authorizeSeconds = new Histogram({
    name: 'allowance_authorize_duration_seconds',
    help: 'Time spent in engine.authorize, in seconds, by outcome (the decision action, or error).',
    labelNames: ['outcome'] as const,
    buckets: AUTHORIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'allowance_decisions_total',
    help: 'Authorization decisions by action and reason code.',
    labelNames: ['action', 'reason'] as const,
    registers: [this.registry],
  });
  readonly shadowDivergences = new Counter({
    name: 'allowance_policy_shadow_divergences_total',
    help: 'Live decisions on which a shadow policy revision would have decided otherwise, by transition (ACTIVE->CANDIDATE).',
    labelNames: ['transition'] as const,
    registers: [this.registry],
  });
  readonly shadowErrors = new Counter({
    name: 'allowance_policy_shadow_errors_total',
    help: 'Shadow policy evaluations that threw or returned an invalid decision (counted as a policy_error DENY).',
    registers: [this.registry],
  });
  /** Read at scrape time: org policy evaluations that failed (each a DENY policy_error). */
  orgPolicyErrors: () => number = () => 0;
  /** Read at scrape time: times an org's monthly decisions went past its plan (decisions still issued). */
  quotaOverages: () => number = () => 0;
  /** Read at scrape time: stand-in decisions spooled and not yet written into the store (null: no spool). */
  standInPending: () => number | null = () => null;
  #processMetrics = false;

  constructor() {
    // The engine counts these; each counter shows the engine's count at each scrape.
    const engineCounter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    engineCounter(
      'allowance_org_policy_errors_total',
      'Org policy evaluations that threw or returned an invalid decision (each a DENY policy_error).',
      () => this.orgPolicyErrors(),
    );
    engineCounter(
      'allowance_quota_overages_total',
      "Times an org's decisions of a month went past its plan (counted by this server; decisions are still issued and signed).",
      () => this.quotaOverages(),
    );
    const standInPending = () => this.standInPending();
    new Gauge({
      name: 'allowance_stand_in_pending',
      help: 'Stand-in decisions answered while the store was unavailable and not yet written into it (this server).',
      registers: [this.registry],
      collect() {
        const n = standInPending();
        if (n === null) this.reset();
        else this.set(n);
      },
    });
  }

  request(method: string, route: string, status: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
  }

  authorize(seconds: number, decision: Decision | null): void {
    this.authorizeSeconds.observe({ outcome: decision ? decision.action : 'error' }, seconds);
    if (!decision) return;
    if (decision.reason_codes.length === 0) this.decisions.inc({ action: decision.action, reason: 'none' });
    for (const reason of decision.reason_codes) this.decisions.inc({ action: decision.action, reason });
  }

  shadowDivergence(transition: string): void {
    this.shadowDivergences.inc({ transition });
  }

  shadowError(): void {
    this.shadowErrors.inc();
  }

  /**
   * Starts the default process metrics on this registry. Their event loop monitor and GC observer run for
   * the rest of the process (prom-client cannot stop them), so they start with the first scrape rather
   * than with every app built (tests build hundreds).
   */
  collectProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  render(): Promise<string> {
    this.collectProcessMetrics();
    return this.registry.metrics();
  }
}
