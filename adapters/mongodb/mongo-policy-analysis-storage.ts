import type { Collection, Db, Document, IndexDescription, MongoClient } from 'mongodb';
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
import { embedDrafts, pushDrafts } from './audit-outbox.js';
import { COLLECTION_NAMES } from './collections.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { isDuplicateKey, runMapped } from './storage-errors.js';
import { encodeKey, toDomain, toStored } from './stored-document.js';

/** Names of the collections of the policy analysis storage, next to the adapter's in the same database. */
export const POLICY_ANALYSIS_COLLECTION_NAMES = {
  shadow: 'policy_shadow_stats',
  replays: 'policy_replays',
} as const;

/** Its collections whose documents carry audit drafts: the MongoAdapter of the database lists them. */
export const POLICY_ANALYSIS_DRAFT_CARRIERS = [POLICY_ANALYSIS_COLLECTION_NAMES.replays] as const;

/**
 * The indexes `init()` creates. A shadow document's `_id` is `org_id NUL revision`, a replay job's its id;
 * jobs are also read by (org_id, id). The authorization scan uses the adapter's (org_id, list_key) index.
 */
export function policyAnalysisIndexPlan(): [keyof typeof POLICY_ANALYSIS_COLLECTION_NAMES, IndexDescription[]][] {
  return [
    ['shadow', []],
    ['replays', [{ key: { org_id: 1, id: -1 }, name: 'org_id_id' }]],
  ];
}

function shadowKey(orgId: string, revision: string): string {
  return `${orgId}\u0000${revision}`;
}

/** The update that adds a batch: every counter by `$inc`, bounds by `$min`/`$max`, samples pushed and sliced. */
function shadowUpdate(batch: ShadowBatch): Document {
  const c = batch.counts;
  const inc: Document = {
    evaluated: c.evaluated,
    diverged: c.diverged,
    'approved_amount_delta.sum': c.approved_amount_delta.sum,
  };
  for (const [k, n] of Object.entries(c.transitions)) inc[`transitions.${encodeKey(k)}`] = n;
  for (const [k, n] of Object.entries(c.reasons)) inc[`reasons.${encodeKey(k)}`] = n;
  const min: Document = { since: batch.first_at };
  const max: Document = { updated_at: batch.last_at };
  if (c.approved_amount_delta.min !== null) min['approved_amount_delta.min'] = c.approved_amount_delta.min;
  if (c.approved_amount_delta.max !== null) max['approved_amount_delta.max'] = c.approved_amount_delta.max;
  const update: Document = {
    $setOnInsert: { org_id: batch.org_id, revision: batch.revision },
    $set: { active_revision: batch.active_revision },
    $inc: inc,
    $min: min,
    $max: max,
  };
  if (batch.samples.length > 0) {
    update.$push = { samples: { $each: batch.samples.map((s) => toStored(s)), $slice: -SHADOW_SAMPLE_LIMIT } };
  }
  return update;
}

function toShadowStats(doc: Document): ShadowStats {
  const d = toDomain<Partial<ShadowStats>>(doc);
  const delta = d.approved_amount_delta ?? { sum: 0, min: null, max: null };
  return {
    org_id: d.org_id as string,
    revision: d.revision as string,
    active_revision: d.active_revision ?? null,
    since: d.since as string,
    updated_at: d.updated_at as string,
    evaluated: d.evaluated ?? 0,
    diverged: d.diverged ?? 0,
    transitions: d.transitions ?? {},
    reasons: d.reasons ?? {},
    approved_amount_delta: { sum: delta.sum ?? 0, min: delta.min ?? null, max: delta.max ?? null },
    samples: d.samples ?? [],
  };
}

/**
 * MongoDB {@link PolicyAnalysisStorage}: single-document atomic writes only. Shadow batches are one upsert
 * each (counters added with `$inc`, so batches of every server add up); a replay job is one document
 * carrying its audit drafts (see audit-outbox.ts).
 */
export class MongoPolicyAnalysisStorage implements PolicyAnalysisStorage {
  private readonly client: MongoClient;
  private readonly ownsClient: boolean;
  private readonly db: Db;
  private readonly shadow: Collection<Document>;
  private readonly replays: Collection<Document>;
  private readonly authorizations: Collection<Document>;
  private closed = false;

  constructor(options: ConnectionOptions = {}) {
    const connection = openConnection(options, 'MongoPolicyAnalysisStorage');
    this.client = connection.client;
    this.ownsClient = connection.ownsClient;
    this.db = connection.db;
    this.shadow = this.db.collection(POLICY_ANALYSIS_COLLECTION_NAMES.shadow);
    this.replays = this.db.collection(POLICY_ANALYSIS_COLLECTION_NAMES.replays);
    this.authorizations = this.db.collection(COLLECTION_NAMES.authorizations);
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    return runMapped(this.closed, 'MongoDB policy analysis storage', fn);
  }

  init(): Promise<void> {
    return this.run(async () => {
      for (const [name, indexes] of policyAnalysisIndexPlan()) {
        if (indexes.length > 0) await this.db.collection(POLICY_ANALYSIS_COLLECTION_NAMES[name]).createIndexes(indexes);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close().catch(() => {});
  }

  recordShadow(batch: ShadowBatch): Promise<void> {
    return this.run(async () => {
      const filter = { _id: shadowKey(batch.org_id, batch.revision) } as Document;
      const update = shadowUpdate(batch);
      try {
        await this.shadow.updateOne(filter, update, { upsert: true });
      } catch (err) {
        // Two first batches racing to insert: the loser's upsert is a duplicate key; as an update it applies.
        if (!isDuplicateKey(err)) throw err;
        await this.shadow.updateOne(filter, update);
      }
    });
  }

  getShadowStats(orgId: string, revision: string): Promise<ShadowStats | null> {
    return this.run(async () => {
      const doc = await this.shadow.findOne({ _id: shadowKey(orgId, revision) } as Document);
      return doc ? toShadowStats(doc) : null;
    });
  }

  insertReplayJob(job: ReplayJob, events?: readonly AuditDraft[]): Promise<void> {
    return this.run(async () => {
      try {
        await this.replays.insertOne(embedDrafts({ ...(toStored(job) as Document), _id: job.id } as Document, events));
      } catch (err) {
        if (isDuplicateKey(err))
          throw new StorageError('conflict', `duplicate replay job id ${job.id}`, { cause: err });
        throw err;
      }
    });
  }

  getReplayJob(orgId: string, id: string): Promise<ReplayJob | null> {
    return this.run(async () => {
      const doc = await this.replays.findOne({ _id: id, org_id: orgId } as Document);
      return doc ? toDomain<ReplayJob>(doc) : null;
    });
  }

  updateReplayJob(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<ReplayJob>,
    events?: readonly AuditDraft[],
  ): Promise<ReplayJob | null> {
    return this.run(async () => {
      const { id: _id, org_id: _org, version: _v, ...rest } = patch;
      const update: Document = { $inc: { version: 1 } };
      const set = toStored(rest) as Document;
      if (Object.keys(set).length > 0) update.$set = set;
      const doc = await this.replays.findOneAndUpdate(
        { _id: id, org_id: orgId, version: expectVersion } as Document,
        pushDrafts(update, events),
        { returnDocument: 'after' },
      );
      if (doc) return toDomain<ReplayJob>(doc);
      const exists = await this.replays.findOne({ _id: id, org_id: orgId } as Document, { projection: { _id: 1 } });
      if (exists) throw new StorageError('conflict', `version of replay job ${id} moved`);
      return null;
    });
  }

  scanAuthorizations(
    orgId: string,
    scan: AuthorizationScan,
  ): Promise<{ items: AuthorizationRecord[]; next: string | null }> {
    return this.run(async () => {
      const after = scan.after !== undefined && scan.after >= scan.from ? scan.after : undefined;
      const range: Document = after !== undefined ? { $gt: after, $lt: scan.to } : { $gte: scan.from, $lt: scan.to };
      const docs = await this.authorizations
        .find({ org_id: orgId, list_key: range })
        .sort({ org_id: 1, list_key: 1 })
        .limit(scan.limit + 1)
        .toArray();
      const page = docs.slice(0, scan.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((d) => toDomain<AuthorizationRecord>(d)),
        next: docs.length > scan.limit && last ? String(last.list_key) : null,
      };
    });
  }

  countAuthorizations(orgId: string, from: string, to: string, cap: number): Promise<number> {
    return this.run(() =>
      this.authorizations.countDocuments({ org_id: orgId, list_key: { $gte: from, $lt: to } }, { limit: cap }),
    );
  }
}
