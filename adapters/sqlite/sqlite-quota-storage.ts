import type { AcquireResult, CountedResource, OrgPlan, QuotaRecord, QuotaStorage } from '../../src/storage/index.js';
import { emptyQuotaRecord } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * {@link QuotaStorage} on the SQLite database of a SqliteAdapter: one row per org; every change reads and
 * writes the row in one IMMEDIATE transaction, so concurrent processes on the file never lose a count.
 */
export class SqliteQuotaStorage extends SqliteStore implements QuotaStorage {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  private rowSync(orgId: string): QuotaRecord | null {
    return this.doc<QuotaRecord>(this.sql('SELECT doc FROM org_quotas WHERE org_id = ?').get(orgId));
  }

  private putSync(row: QuotaRecord): void {
    this.sql(
      'INSERT INTO org_quotas (org_id, doc) VALUES (?, ?) ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc',
    ).run(row.org_id, JSON.stringify(row));
  }

  async get(orgId: string): Promise<QuotaRecord | null> {
    return this.read(() => this.rowSync(orgId));
  }

  async setPlan(orgId: string, plan: OrgPlan, at: string): Promise<QuotaRecord> {
    return this.tx(() => {
      const row = this.rowSync(orgId) ?? emptyQuotaRecord(orgId, at);
      const next: QuotaRecord = { ...row, plan: { ...plan }, updated_at: at };
      this.putSync(next);
      return next;
    });
  }

  async acquire(orgId: string, resource: CountedResource, at: string): Promise<AcquireResult> {
    return this.tx((): AcquireResult => {
      const row = this.rowSync(orgId) ?? emptyQuotaRecord(orgId, at);
      const limit = row.plan[resource];
      if (limit !== null && row[resource] >= limit) return { status: 'exceeded', quota: limit, used: row[resource] };
      const used = row[resource] + 1;
      this.putSync({ ...row, [resource]: used, updated_at: at });
      return { status: 'acquired', used };
    });
  }

  async release(orgId: string, resource: CountedResource, at: string): Promise<void> {
    await this.tx(() => {
      const row = this.rowSync(orgId);
      if (!row || row[resource] === 0) return;
      this.putSync({ ...row, [resource]: row[resource] - 1, updated_at: at });
    });
  }

  async advanceDecisions(
    orgId: string,
    fromSeq: number,
    toSeq: number,
    add: Record<string, number>,
    at: string,
  ): Promise<boolean> {
    return this.tx(() => {
      const row = this.rowSync(orgId) ?? emptyQuotaRecord(orgId, at);
      if (row.decisions.cursor_seq !== fromSeq) return false;
      const months = { ...row.decisions.months };
      for (const [month, n] of Object.entries(add)) months[month] = (months[month] ?? 0) + n;
      this.putSync({ ...row, decisions: { cursor_seq: toSeq, months }, updated_at: at });
      return true;
    });
  }
}
