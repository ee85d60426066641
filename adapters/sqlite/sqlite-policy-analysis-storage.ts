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
import { SqliteStore } from './sqlite-store.js';

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
 * {@link PolicyAnalysisStorage} on the SQLite database of a SqliteAdapter: shadow counters are merged in one
 * IMMEDIATE transaction (servers on the same file add up), and scans read the adapter's `authorizations`
 * table by its (org_id, order_key) index.
 */
export class SqlitePolicyAnalysisStorage extends SqliteStore implements PolicyAnalysisStorage {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  private statsSync(orgId: string, revision: string): ShadowStats | null {
    return this.doc<ShadowStats>(
      this.sql('SELECT doc FROM shadow_stats WHERE org_id = ? AND revision = ?').get(orgId, revision),
    );
  }

  async recordShadow(batch: ShadowBatch): Promise<void> {
    await this.tx(() => {
      const prev = this.statsSync(batch.org_id, batch.revision);
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
      this.sql(
        'INSERT INTO shadow_stats (org_id, revision, doc) VALUES (?, ?, ?) ON CONFLICT (org_id, revision) DO UPDATE SET doc = excluded.doc',
      ).run(batch.org_id, batch.revision, JSON.stringify(next));
    });
  }

  async getShadowStats(orgId: string, revision: string): Promise<ShadowStats | null> {
    return this.read(() => this.statsSync(orgId, revision));
  }

  async insertReplayJob(job: ReplayJob, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO replay_jobs (id, org_id, version, doc) VALUES (?, ?, ?, ?)').run(
        job.id,
        job.org_id,
        job.version,
        JSON.stringify(job),
      );
      this.addDrafts(events);
    });
  }

  private jobSync(orgId: string, id: string): ReplayJob | null {
    return this.doc<ReplayJob>(this.sql('SELECT doc FROM replay_jobs WHERE id = ? AND org_id = ?').get(id, orgId));
  }

  async getReplayJob(orgId: string, id: string): Promise<ReplayJob | null> {
    return this.read(() => this.jobSync(orgId, id));
  }

  async updateReplayJob(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<ReplayJob>,
    events?: readonly AuditDraft[],
  ): Promise<ReplayJob | null> {
    return this.tx(() => {
      const job = this.jobSync(orgId, id);
      if (!job) return null;
      if (job.version !== expectVersion) throw new StorageError('conflict', `version of replay job ${id} moved`);
      const next: ReplayJob = { ...job, ...patch, id: job.id, org_id: job.org_id, version: job.version + 1 };
      this.sql('UPDATE replay_jobs SET version = ?, doc = ? WHERE id = ?').run(next.version, JSON.stringify(next), id);
      this.addDrafts(events);
      return next;
    });
  }

  async scanAuthorizations(
    orgId: string,
    scan: AuthorizationScan,
  ): Promise<{ items: AuthorizationRecord[]; next: string | null }> {
    return this.read(() => {
      const after = scan.after !== undefined && scan.after >= scan.from ? scan.after : null;
      const rows = (
        after !== null
          ? this.sql(
              'SELECT order_key, doc FROM authorizations WHERE org_id = ? AND order_key > ? AND order_key < ? ORDER BY order_key LIMIT ?',
            ).all(orgId, after, scan.to, scan.limit)
          : this.sql(
              'SELECT order_key, doc FROM authorizations WHERE org_id = ? AND order_key >= ? AND order_key < ? ORDER BY order_key LIMIT ?',
            ).all(orgId, scan.from, scan.to, scan.limit)
      ) as { order_key: string; doc: string }[];
      const last = rows[rows.length - 1];
      return {
        items: rows.map((r) => JSON.parse(r.doc) as AuthorizationRecord),
        next: last && rows.length === scan.limit ? last.order_key : null,
      };
    });
  }

  async countAuthorizations(orgId: string, from: string, to: string, cap: number): Promise<number> {
    return this.read(
      () =>
        (
          this.sql(
            'SELECT count(*) AS n FROM (SELECT 1 FROM authorizations WHERE org_id = ? AND order_key >= ? AND order_key < ? LIMIT ?)',
          ).get(orgId, from, to, cap) as { n: number }
        ).n,
    );
  }
}
