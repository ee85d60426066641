import { AppError } from '../errors/index.js';
import { compileValidator, orgPlanSchema } from '../schemas/index.js';
import {
  type CountedResource,
  type OrgPlan,
  QUOTA_STORAGE_METHODS,
  type QuotaRecord,
  type QuotaStorage,
  toAppError,
  UNLIMITED_PLAN,
} from '../storage/index.js';
import { isoTime } from '../util/clock.js';
import { derivedId, ID_PREFIX } from '../util/ids.js';
import { SYSTEM_ACTOR } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { requireOrg } from './processors.js';

/** The audit events that are decisions of the org's plan: one per authorization decided (never a replay). */
export const DECISION_EVENT_TYPES: ReadonlySet<string> = new Set([
  'authorization.approved',
  'authorization.declined',
  'authorization.step_up',
]);

/** Events read from an org's chain per store call while counting. */
const COUNT_PAGE = 1000;
/** Pages one count reads at most (a million events) before it leaves the rest to the next one. */
const MAX_COUNT_ROUNDS = 1000;

/** The calendar month (UTC) of an RFC 3339 time or of milliseconds since the epoch: `YYYY-MM`. */
export function monthOf(at: string | number): string {
  return (typeof at === 'number' ? isoTime(at) : at).slice(0, 7);
}

/** The first instant of the month after `month` (`YYYY-MM`), when its decision count starts again. */
export function monthResetsAt(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 1)).toISOString();
}

/** One resource of an org's usage: its limit (null: none) and what is used. */
export interface QuotaUsage {
  quota: number | null;
  used: number;
}

/** What an org has used of its plan (GET /v1/usage). */
export interface OrgUsage {
  org_id: string;
  plan: OrgPlan;
  /** The current calendar month (UTC), `YYYY-MM`. */
  period: string;
  decisions: QuotaUsage & {
    /** Decisions past the quota this month (issued and signed all the same). */
    overage: number;
    resets_at: string;
  };
  agents: QuotaUsage;
  webhooks: QuotaUsage;
  /** Decisions are counted from the org's audit chain up to this seq. */
  counted_through_seq: number;
}

const validatePlan = compileValidator<OrgPlan>(orgPlanSchema);

/** The quota storage with every method checked at start and only AppError thrown. */
export function guardQuotaStorage(storage: QuotaStorage): QuotaStorage {
  const missing = QUOTA_STORAGE_METHODS.filter(
    (m) => typeof (storage as unknown as Record<string, unknown>)[m] !== 'function',
  );
  if (missing.length) throw new TypeError(`createEngine: the quota storage lacks ${missing.join(', ')}`);
  const guarded = {} as Record<string, unknown>;
  for (const m of QUOTA_STORAGE_METHODS) {
    const fn = (storage[m] as (...args: unknown[]) => Promise<unknown>).bind(storage);
    guarded[m] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toAppError(err);
      }
    };
  }
  return guarded as unknown as QuotaStorage;
}

function quotaError(resource: string, quota: number, used: number, resetsAt: string | null): AppError {
  return new AppError('quota_exceeded', `the org's plan allows ${quota} ${resource.replaceAll('_', ' ')}`, {
    details: { resource, quota, used, resets_at: resetsAt },
  });
}

/**
 * Takes one of `resource` for the org, or throws 402 `quota_exceeded`. A no-op without quota storage. The
 * caller gives it back with {@link releaseQuota} when its write fails or the thing is removed.
 */
export async function acquireQuota(ctx: EngineContext, orgId: string, resource: CountedResource): Promise<void> {
  if (!ctx.quotas) return;
  const res = await ctx.quotas.acquire(orgId, resource, isoTime(ctx.clock.now()));
  if (res.status === 'exceeded') throw quotaError(resource, res.quota, res.used, null);
}

/** Gives one of `resource` back; a failure is logged, never thrown (the count stays high, never low). */
export async function releaseQuota(ctx: EngineContext, orgId: string, resource: CountedResource): Promise<void> {
  if (!ctx.quotas) return;
  try {
    await ctx.quotas.release(orgId, resource, isoTime(ctx.clock.now()));
  } catch (err) {
    ctx.logger.warn('quota_release_failed', { org_id: orgId, resource, error: String(err) });
  }
}

/**
 * Counts an org's decisions from its audit chain into the quota storage, in the background: after the
 * chainer links events of an org, the events after the stored cursor are read and their decisions added to
 * their months by a compare-and-set on the cursor, so any number of servers count every decision exactly
 * once and authorize itself pays no store call for it. When a month's count goes past the plan, a
 * `quota.exceeded` audit event is written (its id derived from org and month, so it is written once).
 */
export class DecisionCounter {
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly storage: QuotaStorage,
  ) {}

  /** Counts in the background (coalesced per org); errors are logged and retried on the next notify. */
  notify(orgId: string): void {
    if (this.running.has(orgId)) {
      this.dirty.add(orgId);
      return;
    }
    const run = (async () => {
      do {
        this.dirty.delete(orgId);
        try {
          await this.countNow(orgId);
        } catch (err) {
          this.ctx.logger.warn('quota_count_failed', { org_id: orgId, error: String(err) });
          this.dirty.delete(orgId);
        }
      } while (this.dirty.has(orgId));
    })().finally(() => this.running.delete(orgId));
    this.running.set(orgId, run);
  }

  /** Resolves when every background count started so far has ended. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** Counts everything linked so far in the org's chain; returns the record as it stands after. */
  async countNow(orgId: string): Promise<QuotaRecord | null> {
    // Every round either counts a page or finds the cursor moved by another counter: both are progress.
    for (let round = 0; round < MAX_COUNT_ROUNDS; round++) {
      const record = await this.storage.get(orgId);
      const cursor = record?.decisions.cursor_seq ?? 0;
      const events = await this.ctx.store.listAuditEvents(orgId, { after_seq: cursor, limit: COUNT_PAGE });
      const last = events[events.length - 1];
      if (!last) return record;
      const add: Record<string, number> = {};
      const overages: { month: string; quota: number }[] = [];
      for (const e of events) {
        if (!DECISION_EVENT_TYPES.has(e.type)) continue;
        const month = monthOf(e.at);
        add[month] = (add[month] ?? 0) + 1;
        const limit = record?.plan.decisions_per_month ?? null;
        const used = (record?.decisions.months[month] ?? 0) + (add[month] as number);
        if (limit !== null && used === limit + 1) {
          // Written before the count, so a crash in between cannot lose it; its id makes racing writes one.
          await this.writeOverageEvent(orgId, month, limit, e.at);
          overages.push({ month, quota: limit });
        }
      }
      const applied = await this.storage.advanceDecisions(orgId, cursor, last.seq, add, isoTime(this.ctx.clock.now()));
      if (applied) {
        // Only the counter that counted the range reports it.
        for (const o of overages) {
          this.ctx.stats.quotaOverages += 1;
          this.ctx.logger.warn('quota_exceeded', {
            org_id: orgId,
            resource: 'decisions_per_month',
            month: o.month,
            quota: o.quota,
          });
        }
      }
      if (applied && events.length < COUNT_PAGE) return this.storage.get(orgId);
      // Lost the race (another counter moved the cursor) or more is waiting: read again from the new cursor.
    }
    // Still behind after that many pages: the rest is counted at the next notify or read.
    return this.storage.get(orgId);
  }

  private async writeOverageEvent(orgId: string, month: string, quota: number, at: string): Promise<void> {
    if (!this.ctx.auditEnabled) return;
    const atMs = Date.parse(at);
    await this.ctx.store.appendAuditDrafts([
      {
        id: derivedId(ID_PREFIX.auditEvent, atMs, `quota.exceeded/${orgId}/decisions_per_month/${month}`),
        org_id: orgId,
        at,
        type: 'quota.exceeded',
        actor: SYSTEM_ACTOR,
        subject: { kind: 'quota', id: 'decisions_per_month' },
        agent_id: null,
        payload: {
          resource: 'decisions_per_month',
          quota,
          used: quota + 1,
          period: month,
          resets_at: monthResetsAt(month),
          // What happens past the quota: decisions are still issued and signed, and counted as overage.
          enforcement: 'overage_recorded',
        },
      },
    ]);
  }
}

function usageOf(orgId: string, record: QuotaRecord | null, nowMs: number): OrgUsage {
  const plan = record?.plan ?? { ...UNLIMITED_PLAN };
  const period = monthOf(nowMs);
  const used = record?.decisions.months[period] ?? 0;
  const quota = plan.decisions_per_month;
  return {
    org_id: orgId,
    plan: { ...plan },
    period,
    decisions: {
      quota,
      used,
      overage: quota === null ? 0 : Math.max(0, used - quota),
      resets_at: monthResetsAt(period),
    },
    agents: { quota: plan.agents, used: record?.agents ?? 0 },
    webhooks: { quota: plan.webhooks, used: record?.webhooks ?? 0 },
    counted_through_seq: record?.decisions.cursor_seq ?? 0,
  };
}

function needQuotas(ctx: EngineContext): { storage: QuotaStorage; counter: DecisionCounter } {
  if (!ctx.quotas || !ctx.decisionCounter) {
    throw new AppError('storage_unavailable', 'quotas are not configured on this server');
  }
  return { storage: ctx.quotas, counter: ctx.decisionCounter };
}

/** The org's usage of its plan, decisions counted up to everything linked in its audit chain. */
export async function getOrgUsage(ctx: EngineContext, orgId: string): Promise<OrgUsage> {
  const { counter } = needQuotas(ctx);
  await requireOrg(ctx, orgId);
  const record = await counter.countNow(orgId);
  return usageOf(orgId, record, ctx.clock.now());
}

/** Sets the org's plan (operator); counters are kept. Returns the usage under the new plan. */
export async function setOrgPlan(ctx: EngineContext, orgId: string, body: unknown): Promise<OrgUsage> {
  const { storage, counter } = needQuotas(ctx);
  const plan = validatePlan(cloneInput(body));
  await requireOrg(ctx, orgId);
  await storage.setPlan(
    orgId,
    { decisions_per_month: plan.decisions_per_month, agents: plan.agents, webhooks: plan.webhooks },
    isoTime(ctx.clock.now()),
  );
  const record = await counter.countNow(orgId);
  return usageOf(orgId, record, ctx.clock.now());
}

/**
 * Refuses an optional decision (a simulation) with 402 `quota_exceeded` once the org's decisions of this
 * month have reached the plan. Decisions linked in the chain but not counted yet are counted first.
 */
export async function requireDecisionsLeft(ctx: EngineContext, orgId: string): Promise<void> {
  if (!ctx.quotas || !ctx.decisionCounter) return;
  const record = await ctx.quotas.get(orgId);
  const quota = record?.plan.decisions_per_month ?? null;
  if (quota === null) return;
  const period = monthOf(ctx.clock.now());
  let used = record?.decisions.months[period] ?? 0;
  if (used < quota) {
    used = (await ctx.decisionCounter.countNow(orgId))?.decisions.months[period] ?? 0;
    if (used < quota) return;
  }
  throw quotaError('decisions_per_month', quota, used, monthResetsAt(period));
}
