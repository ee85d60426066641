/** The resources of a plan counted by creation and removal (not per month). */
export type CountedResource = 'agents' | 'webhooks';

/**
 * An org's plan, set by the operator: decisions per calendar month (UTC), agents that are not revoked,
 * webhook endpoints. Null is no limit.
 */
export interface OrgPlan {
  decisions_per_month: number | null;
  agents: number | null;
  webhooks: number | null;
}

/** The plan of an org nobody set one for: no limits. */
export const UNLIMITED_PLAN: Readonly<OrgPlan> = Object.freeze({
  decisions_per_month: null,
  agents: null,
  webhooks: null,
});

/**
 * The quota record of an org: its plan and its counters. `agents` and `webhooks` count what exists (a
 * creation takes one, a revocation or deletion gives it back). `decisions` counts the org's decisions per
 * calendar month (UTC, `YYYY-MM`) as read from its audit chain up to `cursor_seq`.
 */
export interface QuotaRecord {
  org_id: string;
  plan: OrgPlan;
  agents: number;
  webhooks: number;
  decisions: { cursor_seq: number; months: Record<string, number> };
  updated_at: string;
}

/** Outcome of {@link QuotaStorage.acquire}. */
export type AcquireResult = { status: 'acquired'; used: number } | { status: 'exceeded'; quota: number; used: number };

/**
 * Plans and usage counters of orgs, one record per org, created on first use with no limits, no decisions
 * counted and zero agents and webhooks, or (an adapter whose store may hold an org older than its record)
 * the agents not revoked and the webhook endpoints the org already has.
 *
 * Must be atomic: `acquire` (the count and the plan's limit are read and the count incremented in one
 * conditional write: of any number of concurrent acquires, on any number of servers, exactly
 * `limit − used` succeed); `release` (never below zero); `setPlan` (changes the plan, never a counter);
 * `advanceDecisions` (a compare-and-set on `decisions.cursor_seq` that also adds to the months' counts, so
 * a range of the chain is counted once whatever the number of counters racing on it).
 */
export interface QuotaStorage {
  init(): Promise<void>;
  close(): Promise<void>;
  /** The org's record, or null when none was written yet (no plan, nothing counted). */
  get(orgId: string): Promise<QuotaRecord | null>;
  /** Sets the plan (creating the record when missing), keeping every counter; returns the record. */
  setPlan(orgId: string, plan: OrgPlan, at: string): Promise<QuotaRecord>;
  /**
   * Takes one of `resource` when the count is below the plan's limit (or the plan has none), in one
   * conditional write; `exceeded` with the limit and the count otherwise.
   */
  acquire(orgId: string, resource: CountedResource, at: string): Promise<AcquireResult>;
  /** Gives one of `resource` back (the count never goes below zero). */
  release(orgId: string, resource: CountedResource, at: string): Promise<void>;
  /**
   * Adds `add[month]` to each month's decision count and moves `decisions.cursor_seq` from `fromSeq` to
   * `toSeq`, only when the stored cursor is `fromSeq` (a missing record counts as cursor 0): true when
   * applied, false when another counter moved the cursor first (nothing changes).
   */
  advanceDecisions(
    orgId: string,
    fromSeq: number,
    toSeq: number,
    add: Record<string, number>,
    at: string,
  ): Promise<boolean>;
}

/** The methods of {@link QuotaStorage}. */
export const QUOTA_STORAGE_METHODS = [
  'init',
  'close',
  'get',
  'setPlan',
  'acquire',
  'release',
  'advanceDecisions',
] as const satisfies readonly (keyof QuotaStorage)[];

/** The empty record of an org (no plan, nothing counted). */
export function emptyQuotaRecord(orgId: string, at: string): QuotaRecord {
  return {
    org_id: orgId,
    plan: { ...UNLIMITED_PLAN },
    agents: 0,
    webhooks: 0,
    decisions: { cursor_seq: 0, months: {} },
    updated_at: at,
  };
}
