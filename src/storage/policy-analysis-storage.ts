import type { AuditDraft } from '../audit/types.js';
import type { Action, AuthorizationRecord } from '../types.js';

/** What one policy combination decided, as compared by shadow and replay. */
export interface DecisionOutcome {
  action: Action;
  reasons: string[];
  approved_amount: number;
}

/** One decision on which a candidate policy disagreed with the one that decided. */
export interface DivergenceSample {
  /** An authorization (processor_id and authorization_id set) or an intent declaration (intent_id set). */
  kind: 'authorization' | 'intent';
  processor_id: string | null;
  authorization_id: string | null;
  intent_id: string | null;
  /** When the decision was made (RFC 3339). */
  at: string;
  agent_id: string | null;
  merchant_id: string | null;
  active: DecisionOutcome;
  candidate: DecisionOutcome;
}

/**
 * Counters of a comparison between the deciding policies and a candidate. `transitions` are keyed
 * `ACTIVE->CANDIDATE` (e.g. `ALLOW->DENY`; `DENY->DENY` when only the reasons or amount moved), `reasons`
 * count the codes the candidate gave that the active side did not, `approved_amount_delta` is candidate
 * minus active over diverged decisions (min and max null while there is none).
 */
export interface DivergenceCounts {
  evaluated: number;
  diverged: number;
  transitions: Record<string, number>;
  reasons: Record<string, number>;
  approved_amount_delta: { sum: number; min: number | null; max: number | null };
}

/** A batch of shadow comparisons of one (org, candidate revision), applied at once. */
export interface ShadowBatch {
  org_id: string;
  revision: string;
  /** The org revision that decided (null: base only), as of the newest comparison of the batch. */
  active_revision: string | null;
  /** Time of the oldest and of the newest comparison of the batch. */
  first_at: string;
  last_at: string;
  counts: DivergenceCounts;
  /** Diverged decisions of the batch, oldest first. */
  samples: DivergenceSample[];
}

/** Everything recorded about a shadow revision of an org since it was first shadowed. */
export interface ShadowStats extends DivergenceCounts {
  org_id: string;
  revision: string;
  active_revision: string | null;
  since: string;
  updated_at: string;
  /** The latest diverged decisions, oldest first, at most the storage's sample bound. */
  samples: DivergenceSample[];
}

/** A replay report (POST /v1/policies/:revision/replay). */
export interface ReplayReport {
  revision: string;
  from: string;
  to: string;
  replayed: number;
  changed: number;
  transitions: Record<string, number>;
  reasons: Record<string, number>;
  approved_amount_delta: { sum: number; min: number | null; max: number | null };
  top_agents: { agent_id: string; changed: number }[];
  top_merchants: { merchant_id: string; changed: number }[];
  samples: DivergenceSample[];
  /** Stored authorizations of the window that could not be replayed (no org decision or no stored input). */
  skipped: number;
}

/** A background replay. */
export interface ReplayJob {
  id: string;
  org_id: string;
  revision: string;
  from: string;
  to: string;
  limit: number | null;
  status: 'running' | 'completed' | 'failed';
  progress: { done: number; total: number };
  report: ReplayReport | null;
  error: { code: string; message: string } | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  version: number;
}

/** Bounds of an authorization scan: created in [from, to), after the `after` position, at most `limit`. */
export interface AuthorizationScan {
  from: string;
  to: string;
  /** The `next` of the previous page; absent for the first. */
  after?: string;
  limit: number;
}

/** The latest samples kept per shadow revision. */
export const SHADOW_SAMPLE_LIMIT = 50;

/**
 * Storage of what policy analysis records: shadow counters and samples, replay jobs, and the read of an
 * org's stored authorizations by time that replay needs. Kept apart from StorageAdapter like the credential
 * and webhook storages; same rules (async, `null` on a miss, only StorageError, copies returned, tenant
 * scoped: a method taking `orgId` never reads another org's data). Audit drafts passed to a write are
 * stored atomically with it in the outbox of the StorageAdapter on the same backend.
 *
 * Implementations live in adapters/memory and adapters/mongodb; the conformance suite's `policy_analysis`
 * group checks them.
 */
export interface PolicyAnalysisStorage {
  /** Creates indexes; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;

  /**
   * Adds a batch to the (org, revision) counters atomically: counters are added, never overwritten, so
   * batches from any number of servers add up; `since` is the oldest `first_at` ever applied; samples are
   * appended and only the latest {@link SHADOW_SAMPLE_LIMIT} kept.
   */
  recordShadow(batch: ShadowBatch): Promise<void>;
  /** The counters of a shadow revision of the org, or null when nothing was recorded. */
  getShadowStats(orgId: string, revision: string): Promise<ShadowStats | null>;

  /** `conflict` when the id exists. */
  insertReplayJob(job: ReplayJob, events?: readonly AuditDraft[]): Promise<void>;
  getReplayJob(orgId: string, id: string): Promise<ReplayJob | null>;
  /** Compare-and-set on `version` like StorageAdapter's `update*`: null on a miss, `conflict` when it moved. */
  updateReplayJob(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<ReplayJob>,
    events?: readonly AuditDraft[],
  ): Promise<ReplayJob | null>;

  /**
   * The org's authorizations created in [from, to), oldest first (ties in a fixed order, never skipped),
   * `limit` at a time. Pass `next` back as `after`; it is null once nothing can follow (a full page may
   * still be followed by an empty one).
   */
  scanAuthorizations(
    orgId: string,
    scan: AuthorizationScan,
  ): Promise<{ items: AuthorizationRecord[]; next: string | null }>;
  /** How many of the org's authorizations were created in [from, to), counting at most `cap`. */
  countAuthorizations(orgId: string, from: string, to: string, cap: number): Promise<number>;
}
