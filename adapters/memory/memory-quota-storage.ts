import type { AcquireResult, CountedResource, OrgPlan, QuotaRecord, QuotaStorage } from '../../src/storage/index.js';
import { emptyQuotaRecord } from '../../src/storage/index.js';

/**
 * In-memory {@link QuotaStorage}: one record per org, returned as copies; lost on exit and not shared between
 * processes. Every method completes in one synchronous step, so each is atomic.
 */
export class MemoryQuotaStorage implements QuotaStorage {
  private readonly rows = new Map<string, QuotaRecord>();

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  private row(orgId: string, at: string): QuotaRecord {
    let row = this.rows.get(orgId);
    if (!row) {
      row = emptyQuotaRecord(orgId, at);
      this.rows.set(orgId, row);
    }
    return row;
  }

  async get(orgId: string): Promise<QuotaRecord | null> {
    const row = this.rows.get(orgId);
    return row ? structuredClone(row) : null;
  }

  async setPlan(orgId: string, plan: OrgPlan, at: string): Promise<QuotaRecord> {
    const row = this.row(orgId, at);
    row.plan = { ...plan };
    row.updated_at = at;
    return structuredClone(row);
  }

  async acquire(orgId: string, resource: CountedResource, at: string): Promise<AcquireResult> {
    const row = this.row(orgId, at);
    const limit = row.plan[resource];
    if (limit !== null && row[resource] >= limit) return { status: 'exceeded', quota: limit, used: row[resource] };
    row[resource] += 1;
    row.updated_at = at;
    return { status: 'acquired', used: row[resource] };
  }

  async release(orgId: string, resource: CountedResource, at: string): Promise<void> {
    const row = this.rows.get(orgId);
    if (!row || row[resource] === 0) return;
    row[resource] -= 1;
    row.updated_at = at;
  }

  async advanceDecisions(
    orgId: string,
    fromSeq: number,
    toSeq: number,
    add: Record<string, number>,
    at: string,
  ): Promise<boolean> {
    const current = this.rows.get(orgId)?.decisions.cursor_seq ?? 0;
    if (current !== fromSeq) return false;
    const row = this.row(orgId, at);
    row.decisions.cursor_seq = toSeq;
    for (const [month, n] of Object.entries(add)) row.decisions.months[month] = (row.decisions.months[month] ?? 0) + n;
    row.updated_at = at;
    return true;
  }
}
