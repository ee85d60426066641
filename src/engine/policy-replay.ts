import { AppError } from '../errors/index.js';
import type { LoadedPolicy, PolicyDecision, SpendPolicyInput } from '../policy/index.js';
import type { DecisionOutcome, PolicyAnalysisStorage, ReplayJob, ReplayReport } from '../storage/index.js';
import type { AuthorizationRecord } from '../types.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, newId } from '../util/ids.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import type { EngineContext } from './context.js';
import { layerDecisions } from './layering.js';
import {
  type ApprovalOutcome,
  DivergenceTally,
  evaluateOrgSpend,
  NO_APPROVAL,
  outcomeOf,
  POLICY_ERROR_DECISION,
  storedApprovalOutcome,
  verdictFromInput,
} from './policy-comparison.js';
import { withLocalTime } from './policy-input.js';

/** Windows with at most this many decisions are replayed within the request; larger ones as a job. */
export const SYNC_REPLAY_MAX = 2000;
/** Samples a replay report keeps (the latest changed decisions of the window). */
export const REPLAY_SAMPLE_LIMIT = 50;
/** Agents and merchants listed as most affected. */
export const REPLAY_TOP = 10;
const PAGE = 1000;

/** The policies a replay decides with: the base and the candidate org policy. */
export interface ReplayPolicies {
  base: LoadedPolicy;
  candidate: LoadedPolicy;
}

/** A replay window: [from, to), at most `limit` decisions (oldest first). */
export interface ReplayWindow {
  from: string;
  to: string;
  limit: number | null;
}

/**
 * Stored decisions a candidate's verdict is not compared with: the policies allowed them, but the atomic
 * reservation (or intent consumption) then lost a race. Re-deciding the input cannot re-run that race, so
 * an approval by the candidate keeps the stored outcome.
 */
const RACE_REASONS = new Set(['limit_exceeded_concurrent', 'intent_consumed']);

function storedOutcome(rec: AuthorizationRecord): DecisionOutcome | null {
  const d = rec.decision;
  if (d === null || rec.status === 'pending') return null;
  return { action: d.action, reasons: d.reason_codes, approved_amount: d.approved_amount };
}

function lostRace(active: DecisionOutcome, candidate: DecisionOutcome): boolean {
  return (
    active.action === 'DENY' &&
    active.reasons.length === 1 &&
    RACE_REASONS.has(active.reasons[0] as string) &&
    (candidate.action === 'ALLOW' || candidate.action === 'ALLOW_WITH_LIMITS')
  );
}

function evaluateBase(policy: LoadedPolicy, input: SpendPolicyInput): PolicyDecision {
  try {
    return policy.evaluateSpend(input);
  } catch {
    return POLICY_ERROR_DECISION;
  }
}

/** Re-decides one stored input with base + candidate and the engine's checks: the live combination. */
export function redecide(
  policies: ReplayPolicies,
  stored: SpendPolicyInput,
  approval: ApprovalOutcome = NO_APPROVAL,
): DecisionOutcome {
  const input = withLocalTime(stored);
  const layered = layerDecisions(evaluateBase(policies.base, input), evaluateOrgSpend(policies.candidate, input));
  return outcomeOf(verdictFromInput(input, layered, approval));
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Re-decides the org's stored authorizations of the window from their stored policy input and compares
 * with the stored decisions. Reads only. Records with no stored decision or no policy input (decided
 * before any policy ran, or still pending) are `skipped`. `onProgress` is called after each page.
 */
export async function replayAuthorizations(
  storage: PolicyAnalysisStorage,
  orgId: string,
  policies: ReplayPolicies,
  window: ReplayWindow,
  onProgress?: (done: number) => Promise<void> | void,
): Promise<ReplayReport> {
  const tally = new DivergenceTally(REPLAY_SAMPLE_LIMIT);
  let skipped = 0;
  let seen = 0;
  let after: string | undefined;
  const cap = window.limit ?? Number.POSITIVE_INFINITY;
  while (seen < cap) {
    const page = await storage.scanAuthorizations(orgId, {
      from: window.from,
      to: window.to,
      limit: Math.min(PAGE, cap - seen),
      ...(after !== undefined ? { after } : {}),
    });
    for (const rec of page.items) {
      seen++;
      const active = storedOutcome(rec);
      const input = rec.policy_input as SpendPolicyInput | null;
      if (active === null || input === null || typeof input !== 'object' || input.request === undefined) {
        skipped++;
        continue;
      }
      // A human approval the request named is kept as it was decided: the input does not carry it.
      let candidate = redecide(policies, input, storedApprovalOutcome(rec));
      if (lostRace(active, candidate)) candidate = active;
      tally.add({
        kind: 'authorization',
        intent_id: null,
        processor_id: rec.processor_id,
        authorization_id: rec.authorization_id,
        at: rec.created_at,
        agent_id: rec.agent_id,
        merchant_id: input.request.merchant.id ?? null,
        active,
        candidate,
      });
    }
    await onProgress?.(seen);
    if (page.next === null || page.items.length === 0) break;
    after = page.next;
    await yieldTurn();
  }
  const counts = tally.counts();
  return {
    revision: policies.candidate.revision,
    from: window.from,
    to: window.to,
    replayed: counts.evaluated,
    changed: counts.diverged,
    transitions: counts.transitions,
    reasons: counts.reasons,
    approved_amount_delta: counts.approved_amount_delta,
    top_agents: tally.topAgents(REPLAY_TOP),
    top_merchants: tally.topMerchants(REPLAY_TOP),
    samples: tally.latestSamples(),
    skipped,
  };
}

function completedPayload(report: ReplayReport, jobId: string | null): Record<string, unknown> {
  return {
    job_id: jobId,
    revision: report.revision,
    from: report.from,
    to: report.to,
    replayed: report.replayed,
    changed: report.changed,
    skipped: report.skipped,
    transitions: report.transitions,
    approved_amount_delta: report.approved_amount_delta,
  };
}

/** Result of {@link PolicyReplays.start}: a report at once, or the job that computes it. */
export type ReplayStart = { report: ReplayReport } | { job: ReplayJob };

/**
 * Replays for the API: a window of at most {@link SYNC_REPLAY_MAX} decisions is replayed at once, a larger
 * one as a background job stored in the policy analysis storage (progress updated per page, the report
 * stored on completion). Either way the only writes are the job and one `policy.replay.completed` audit
 * event (stored with the job's final update, or on its own for an immediate replay).
 */
export class PolicyReplays {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly storage: PolicyAnalysisStorage,
  ) {}

  async start(
    orgId: string,
    policies: ReplayPolicies,
    window: ReplayWindow,
    actor: Actor | undefined,
  ): Promise<ReplayStart> {
    if (!(window.from < window.to)) {
      throw new AppError('validation_failed', '`from` must be before `to`', {
        details: { errors: [{ path: '/from', message: 'must be before to' }] },
      });
    }
    const total = await this.storage.countAuthorizations(
      orgId,
      window.from,
      window.to,
      window.limit ?? Number.MAX_SAFE_INTEGER,
    );
    if (total <= SYNC_REPLAY_MAX) {
      const report = await replayAuthorizations(this.storage, orgId, policies, window);
      const drafts = this.completedDraft(orgId, report, null, actor);
      if (drafts) await this.ctx.store.appendAuditDrafts(drafts);
      return { report };
    }
    const nowMs = this.ctx.clock.now();
    const job: ReplayJob = {
      id: newId(ID_PREFIX.policyReplay, nowMs),
      org_id: orgId,
      revision: policies.candidate.revision,
      from: window.from,
      to: window.to,
      limit: window.limit,
      status: 'running',
      progress: { done: 0, total },
      report: null,
      error: null,
      created_by: actor ?? 'system',
      created_at: isoTime(nowMs),
      updated_at: isoTime(nowMs),
      version: 0,
    };
    await this.storage.insertReplayJob(job);
    const run = this.run(job, policies).finally(() => this.running.delete(job.id));
    this.running.set(job.id, run);
    return { job };
  }

  private completedDraft(orgId: string, report: ReplayReport, jobId: string | null, actor: Actor | undefined) {
    return auditDraft(this.ctx, {
      orgId,
      type: 'policy.replay.completed',
      subject: { kind: 'policy_replay', id: jobId ?? `${report.revision}@${report.from}/${report.to}` },
      agentId: null,
      payload: completedPayload(report, jobId),
      actor,
    });
  }

  private async run(job: ReplayJob, policies: ReplayPolicies): Promise<void> {
    let current = job;
    try {
      const report = await replayAuthorizations(
        this.storage,
        job.org_id,
        policies,
        { from: job.from, to: job.to, limit: job.limit },
        async (done) => {
          const updated = await this.storage.updateReplayJob(job.org_id, job.id, current.version, {
            progress: { done, total: Math.max(done, current.progress.total) },
            updated_at: isoTime(this.ctx.clock.now()),
          });
          if (updated) current = updated;
        },
      );
      await this.storage.updateReplayJob(
        job.org_id,
        job.id,
        current.version,
        {
          status: 'completed',
          progress: { done: report.replayed + report.skipped, total: report.replayed + report.skipped },
          report,
          updated_at: isoTime(this.ctx.clock.now()),
        },
        this.completedDraft(job.org_id, report, job.id, job.created_by),
      );
    } catch (err) {
      this.ctx.logger.error('policy_replay_failed', { org_id: job.org_id, job_id: job.id, error: String(err) });
      const code = err instanceof AppError ? err.code : 'internal_error';
      await this.storage
        .updateReplayJob(job.org_id, job.id, current.version, {
          status: 'failed',
          error: { code, message: err instanceof Error ? err.message : String(err) },
          updated_at: isoTime(this.ctx.clock.now()),
        })
        .catch((e) => this.ctx.logger.error('policy_replay_state_failed', { job_id: job.id, error: String(e) }));
    }
  }

  /** The job of the org, or `not_found`. */
  async get(orgId: string, id: string): Promise<ReplayJob> {
    const job = await this.storage.getReplayJob(orgId, id);
    if (!job) throw new AppError('not_found', 'replay job not found');
    return job;
  }

  /** Resolves when the job (if it runs in this process) has finished: for tests and shutdown. */
  async whenDone(id: string): Promise<void> {
    await this.running.get(id);
  }

  /** Waits for every job of this process. */
  async drain(): Promise<void> {
    await Promise.all([...this.running.values()]);
  }
}
