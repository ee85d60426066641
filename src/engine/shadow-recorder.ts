import type { LoadedPolicy } from '../policy/index.js';
import {
  type DecisionOutcome,
  type DivergenceSample,
  type PolicyAnalysisStorage,
  SHADOW_SAMPLE_LIMIT,
  type ShadowBatch,
} from '../storage/index.js';
import type { EngineLogger } from './context.js';
import { DivergenceTally } from './policy-comparison.js';

/** One live decision (authorization or intent) to compare with a shadow candidate. */
export interface ShadowObservation {
  orgId: string;
  /** The org revision that decided (null: base only). */
  activeRevision: string | null;
  candidate: LoadedPolicy;
  /** What the engine decided (for an authorization: before reservation). */
  active: DecisionOutcome;
  /**
   * The candidate's final outcome on the same input: the base decision already made, the candidate as org
   * layer, the engine's checks. Called later by the recorder; a candidate failure goes to `onError`.
   */
  decide(onError: (err: unknown) => void): DecisionOutcome;
  /** Who and what the decision was about, for a sample. */
  sample: Omit<DivergenceSample, 'active' | 'candidate'>;
}

/** Options of {@link ShadowRecorder}. */
export interface ShadowRecorderOptions {
  storage: PolicyAnalysisStorage;
  logger: EngineLogger;
  /** How often buffered counters are written. Default 1 s. */
  flushIntervalMs?: number;
  /** Observations waiting to be evaluated beyond which new ones are dropped (and counted). Default 10,000. */
  maxQueued?: number;
  /** Called once per diverged comparison with its transition (the metrics counter). */
  onDivergence?: (transition: string) => void;
  /** Called once per candidate evaluation that failed (it then counts as a `policy_error` DENY). */
  onCandidateError?: (revision: string) => void;
}

/** Observers of a {@link ShadowRecorder}. */
export interface ShadowHooks {
  /** Once per diverged comparison, with its transition (`ALLOW->DENY`, …). */
  onDivergence?: ((transition: string) => void) | undefined;
  /** Once per candidate evaluation that failed (it then counts as a `policy_error` DENY). */
  onCandidateError?: ((revision: string) => void) | undefined;
}

interface Pending {
  orgId: string;
  revision: string;
  activeRevision: string | null;
  firstAt: string;
  lastAt: string;
  tally: DivergenceTally;
}

const MAX_FAILED_BATCHES = 1000;

/**
 * Runs shadow candidates beside live authorizations and intents, off the decision's path: `observe` only queues (the
 * candidate is evaluated on a later turn of the event loop, after the live answer went out), evaluation
 * adds to per-(org, revision) counters in memory, and a timer writes them as one batch per (org,
 * revision) with `recordShadow` (atomic increments, so every server's batches add up). Nothing here can
 * change or fail a live decision: every error is logged and swallowed. `flush()` evaluates and writes
 * everything observed so far (tests and shutdown await it).
 */
export class ShadowRecorder {
  private readonly storage: PolicyAnalysisStorage;
  private readonly logger: EngineLogger;
  private readonly intervalMs: number;
  private readonly maxQueued: number;
  private readonly hooks: ShadowHooks[] = [];
  private queue: ShadowObservation[] = [];
  private drainScheduled = false;
  private pending = new Map<string, Pending>();
  private failed: ShadowBatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Observations dropped because the queue was full. */
  dropped = 0;

  constructor(options: ShadowRecorderOptions) {
    this.storage = options.storage;
    this.logger = options.logger;
    this.intervalMs = options.flushIntervalMs ?? 1000;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.hooks.push({ onDivergence: options.onDivergence, onCandidateError: options.onCandidateError });
  }

  /** Adds observers of divergences and candidate failures (metrics). */
  listen(hooks: ShadowHooks): void {
    this.hooks.push(hooks);
  }

  /** Queues a comparison; never throws, never evaluates on the caller's turn. */
  observe(observation: ShadowObservation): void {
    if (this.queue.length >= this.maxQueued) {
      this.dropped++;
      return;
    }
    this.queue.push(observation);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Evaluates every queued observation into the in-memory counters. */
  private drain(): void {
    this.drainScheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (const o of queue) {
      try {
        this.compare(o);
      } catch (err) {
        this.logger.error('shadow_compare_failed', {
          org_id: o.orgId,
          revision: o.candidate.revision,
          error: String(err),
        });
      }
    }
  }

  private compare(o: ShadowObservation): void {
    const revision = o.candidate.revision;
    const candidate = o.decide((err) => {
      for (const h of this.hooks) h.onCandidateError?.(revision);
      this.logger.error('shadow_policy_error', { org_id: o.orgId, revision, error: String(err) });
    });
    const at = o.sample.at;
    const key = `${o.orgId}\u0000${revision}`;
    let p = this.pending.get(key);
    if (!p) {
      p = {
        orgId: o.orgId,
        revision,
        activeRevision: o.activeRevision,
        firstAt: at,
        lastAt: at,
        tally: new DivergenceTally(SHADOW_SAMPLE_LIMIT),
      };
      this.pending.set(key, p);
    }
    if (at < p.firstAt) p.firstAt = at;
    if (at >= p.lastAt) {
      p.lastAt = at;
      p.activeRevision = o.activeRevision;
    }
    const transition = p.tally.add({ ...o.sample, active: o.active, candidate });
    if (transition !== null) for (const h of this.hooks) h.onDivergence?.(transition);
  }

  /** Evaluates what is queued and writes every buffered counter; resolves once written (or logged as failed). */
  flush(): Promise<void> {
    this.drain();
    const batches = [...this.failed];
    this.failed = [];
    for (const p of this.pending.values()) {
      batches.push({
        org_id: p.orgId,
        revision: p.revision,
        active_revision: p.activeRevision,
        first_at: p.firstAt,
        last_at: p.lastAt,
        counts: p.tally.counts(),
        samples: p.tally.latestSamples(),
      });
    }
    this.pending = new Map();
    const write = this.writing.then(async () => {
      for (const b of batches) {
        try {
          await this.storage.recordShadow(b);
        } catch (err) {
          this.logger.error('shadow_record_failed', { org_id: b.org_id, revision: b.revision, error: String(err) });
          // Kept for the next flush: batches only add, so writing one later counts it once.
          if (this.failed.length < MAX_FAILED_BATCHES) this.failed.push(b);
        }
      }
    });
    this.writing = write;
    return write;
  }

  /** Starts the periodic flush. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic flush and writes what is left. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
