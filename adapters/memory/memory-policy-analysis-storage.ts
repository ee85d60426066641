import type { AuditDraft } from '../../src/audit/types.js';
import {
  type AuthorizationScan,
  type PolicyAnalysisStorage,
  type ReplayJob,
  SHADOW_SAMPLE_LIMIT,
  type ShadowBatch,
  type ShadowStats,
  StorageError,
} from '../../src/storage/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { deepFreeze } from './freeze.js';
import type { MemoryAdapter } from './memory-adapter.js';

function stored<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

function addCounts(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  const out = { ...into };
  for (const [k, n] of Object.entries(from)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function lower(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function higher(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/**
 * In-memory {@link PolicyAnalysisStorage}, reading authorizations from the MemoryAdapter it is built on and
 * writing audit drafts into that adapter's outbox. Every method completes in one step, so each is atomic.
 */
export class MemoryPolicyAnalysisStorage implements PolicyAnalysisStorage {
  private readonly shadow = new Map<string, ShadowStats>();
  private readonly jobs = new Map<string, ReplayJob>();

  constructor(private readonly adapter: MemoryAdapter) {}

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async recordShadow(batch: ShadowBatch): Promise<void> {
    const key = `${batch.org_id}\u0000${batch.revision}`;
    const prev = this.shadow.get(key);
    const c = batch.counts;
    const next: ShadowStats = prev
      ? {
          ...prev,
          active_revision: batch.active_revision,
          since: batch.first_at < prev.since ? batch.first_at : prev.since,
          updated_at: batch.last_at > prev.updated_at ? batch.last_at : prev.updated_at,
          evaluated: prev.evaluated + c.evaluated,
          diverged: prev.diverged + c.diverged,
          transitions: addCounts(prev.transitions, c.transitions),
          reasons: addCounts(prev.reasons, c.reasons),
          approved_amount_delta: {
            sum: prev.approved_amount_delta.sum + c.approved_amount_delta.sum,
            min: lower(prev.approved_amount_delta.min, c.approved_amount_delta.min),
            max: higher(prev.approved_amount_delta.max, c.approved_amount_delta.max),
          },
          samples: [...prev.samples, ...batch.samples].slice(-SHADOW_SAMPLE_LIMIT),
        }
      : {
          org_id: batch.org_id,
          revision: batch.revision,
          active_revision: batch.active_revision,
          since: batch.first_at,
          updated_at: batch.last_at,
          ...c,
          samples: batch.samples.slice(-SHADOW_SAMPLE_LIMIT),
        };
    this.shadow.set(key, stored(next));
  }

  async getShadowStats(orgId: string, revision: string): Promise<ShadowStats | null> {
    return this.shadow.get(`${orgId}\u0000${revision}`) ?? null;
  }

  async insertReplayJob(job: ReplayJob, events?: readonly AuditDraft[]): Promise<void> {
    if (this.jobs.has(job.id)) throw new StorageError('conflict', `duplicate replay job id ${job.id}`);
    this.jobs.set(job.id, stored(job));
    this.adapter.auditOutbox.add(events);
  }

  async getReplayJob(orgId: string, id: string): Promise<ReplayJob | null> {
    const job = this.jobs.get(id);
    return job && job.org_id === orgId ? job : null;
  }

  async updateReplayJob(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<ReplayJob>,
    events?: readonly AuditDraft[],
  ): Promise<ReplayJob | null> {
    const job = this.jobs.get(id);
    if (!job || job.org_id !== orgId) return null;
    if (job.version !== expectVersion) throw new StorageError('conflict', `version of replay job ${id} moved`);
    const next = stored({ ...job, ...patch, id: job.id, org_id: job.org_id, version: job.version + 1 });
    this.jobs.set(id, next);
    this.adapter.auditOutbox.add(events);
    return next;
  }

  async scanAuthorizations(
    orgId: string,
    scan: AuthorizationScan,
  ): Promise<{ items: AuthorizationRecord[]; next: string | null }> {
    return this.adapter.scanAuthorizations(orgId, scan);
  }

  async countAuthorizations(orgId: string, from: string, to: string, cap: number): Promise<number> {
    return this.adapter.countAuthorizations(orgId, from, to, cap);
  }
}
