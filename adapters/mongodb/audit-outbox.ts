import type { AnyBulkWriteOperation, Collection, Document, IndexDescription } from 'mongodb';
import type { AuditDraft } from '../../src/audit/types.js';
import { isDuplicateKey } from './storage-errors.js';
import { fromStored, toStored } from './stored-document.js';

/**
 * The audit outbox on MongoDB, without transactions.
 *
 * A write's drafts live in the document it writes, so both land in one single-document atomic write:
 * - `_audit`: the pending drafts (stored form, keys escaped like every stored value);
 * - `_audit_key`: `at NUL id` of the oldest of them when written, present only while drafts may be
 *   pending, under a sparse index (`audit_pending`), so the outbox read never scans a collection.
 * An insert sets both fields; a conditional update adds `$push: { _audit: { $each } }` and
 * `$min: { _audit_key }` to the same `updateOne`/`findOneAndUpdate`. Drafts with no state change
 * (`appendAuditDrafts`) are documents of `audit_outbox` (`_id` = draft id).
 *
 * Invariant: `_audit_key` is never greater than the key of a draft in `_audit` (`$min` on every push, and
 * an ack only removes drafts). It may be smaller (stale) after a partial ack, which only costs a read.
 *
 * Deletions: a document cannot be deleted in the same write that stores drafts, so a store whose deletion is
 * audited turns the document into a tombstone instead (`_deleted` set and the drafts pushed, one write) and
 * hides tombstones from every read; the ack that empties a tombstone's drafts then deletes it (see
 * {@link ackOutbox}).
 */

/** The field holding a document's pending drafts. */
export const AUDIT_DRAFTS_FIELD = '_audit';
/** The sparse-indexed marker of a document with pending drafts. */
export const AUDIT_KEY_FIELD = '_audit_key';
/**
 * Set on a document that was deleted while its deletion's drafts are pending (a tombstone): stores ignore
 * it on every read, and it is deleted once its drafts were acknowledged.
 */
export const TOMBSTONE_FIELD = '_deleted';

/** The sparse index on the marker, in every collection whose documents can carry drafts. */
export const AUDIT_PENDING_INDEX: IndexDescription = {
  key: { [AUDIT_KEY_FIELD]: 1 },
  name: 'audit_pending',
  sparse: true,
};

/**
 * How long a revocation that carries drafts is kept at least (its TTL date is pushed out to this), so the
 * TTL monitor cannot delete pending drafts before the chainer reads them.
 */
export const PENDING_DRAFT_GRACE_MS = 30 * 86_400_000;

/** The outbox order as one string: `at NUL id` (the same order as comparing (`at`, `id`) for ASCII ids). */
export function draftKey(d: AuditDraft): string {
  return `${d.at}\u0000${d.id}`;
}

/** The outbox order: `at`, then `id`. */
export function compareDrafts(a: AuditDraft, b: AuditDraft): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The stored form of a draft (its `outbox_ref`, if any, dropped). */
export function storedDraft(d: AuditDraft): Document {
  const { outbox_ref: _ref, ...rest } = d;
  return toStored(rest) as Document;
}

function oldestKey(drafts: readonly AuditDraft[]): string {
  let min = draftKey(drafts[0] as AuditDraft);
  for (const d of drafts) {
    const k = draftKey(d);
    if (k < min) min = k;
  }
  return min;
}

/** Adds the drafts (if any) to a document about to be inserted. */
export function embedDrafts(doc: Document, drafts: readonly AuditDraft[] | undefined): Document {
  if (drafts && drafts.length > 0) {
    doc[AUDIT_DRAFTS_FIELD] = drafts.map(storedDraft);
    doc[AUDIT_KEY_FIELD] = oldestKey(drafts);
  }
  return doc;
}

/** Adds the drafts (if any) to an update document: pushed and the marker lowered, in the same write. */
export function pushDrafts(update: Document, drafts: readonly AuditDraft[] | undefined): Document {
  if (drafts && drafts.length > 0) {
    update.$push = { ...(update.$push ?? {}), [AUDIT_DRAFTS_FIELD]: { $each: drafts.map(storedDraft) } };
    update.$min = { ...(update.$min ?? {}), [AUDIT_KEY_FIELD]: oldestKey(drafts) };
  }
  return update;
}

/** `outbox_ref` of a draft: the collection and `_id` of the document holding it. */
function refOf(collection: string, id: unknown): string {
  return JSON.stringify([collection, id]);
}

function parseRef(ref: string | undefined): [string, unknown] | null {
  if (ref === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(ref);
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string') {
      return [parsed[0], parsed[1]];
    }
  } catch {
    // Not one of ours: treated as unknown.
  }
  return null;
}

function draftOf(stored: Document, ref: string): AuditDraft {
  const { _id, ...rest } = fromStored(stored) as Record<string, unknown>;
  return { ...(rest as unknown as AuditDraft), outbox_ref: ref };
}

const EMPTY: Document = {
  [AUDIT_KEY_FIELD]: { $exists: true },
  $or: [{ [AUDIT_DRAFTS_FIELD]: { $size: 0 } }, { [AUDIT_DRAFTS_FIELD]: { $exists: false } }],
};
const CLEAR: Document = { $unset: { [AUDIT_DRAFTS_FIELD]: '', [AUDIT_KEY_FIELD]: '' } };
/** A tombstone with no pending drafts left: nothing needs it any more. */
const SPENT_TOMBSTONE: Document = { [TOMBSTONE_FIELD]: { $exists: true }, [AUDIT_KEY_FIELD]: { $exists: false } };

/** Filter of the documents a store reads: not tombstones. */
export const NOT_DELETED: Document = { [TOMBSTONE_FIELD]: { $exists: false } };

/** Deletes the tombstones whose drafts were all acknowledged (all of them, or those among `ids`). */
export async function purgeSpentTombstones(coll: Collection<Document>, ids?: readonly unknown[]): Promise<void> {
  const filter: Document = ids ? { _id: { $in: ids }, ...SPENT_TOMBSTONE } : { ...SPENT_TOMBSTONE };
  await coll.deleteMany(filter);
}

/**
 * The `limit` oldest drafts embedded in one collection. Documents come in marker order; reading stops once
 * `limit` drafts are in hand and the next marker is past the newest of them: as a marker is never greater
 * than its document's drafts, no document left unread holds an older one. Documents left with an empty
 * array (a crash between an ack's two steps) are cleared on the way.
 */
async function listEmbedded(coll: Collection<Document>, limit: number): Promise<AuditDraft[]> {
  let mine: AuditDraft[] = [];
  let bound: string | null = null;
  const empties: unknown[] = [];
  const cursor = coll
    .find({ [AUDIT_KEY_FIELD]: { $exists: true } }, { projection: { [AUDIT_DRAFTS_FIELD]: 1, [AUDIT_KEY_FIELD]: 1 } })
    .sort({ [AUDIT_KEY_FIELD]: 1 })
    .batchSize(Math.min(limit + 1, 1000));
  try {
    for await (const doc of cursor) {
      if (bound !== null && String(doc[AUDIT_KEY_FIELD]) > bound) break;
      const drafts: unknown = doc[AUDIT_DRAFTS_FIELD];
      if (!Array.isArray(drafts) || drafts.length === 0) {
        empties.push(doc._id);
        continue;
      }
      const ref = refOf(coll.collectionName, doc._id);
      for (const d of drafts) mine.push(draftOf(d as Document, ref));
      if (mine.length >= limit) {
        mine.sort(compareDrafts);
        mine = mine.slice(0, limit);
        bound = draftKey(mine[limit - 1] as AuditDraft);
      }
    }
  } finally {
    await cursor.close();
  }
  if (empties.length > 0) {
    await coll.updateMany({ _id: { $in: empties }, ...EMPTY } as Document, CLEAR);
    await purgeSpentTombstones(coll, empties);
  }
  return mine;
}

/**
 * Up to `limit` pending drafts, oldest first by (`at`, `id`): the oldest `limit` of `standalone` (on its
 * (at, _id) index) and of each collection in `sources`, merged. Each carries `outbox_ref` (the collection
 * and `_id` of its document). A draft found twice (the same id standalone and embedded) is listed once.
 */
export async function listOutbox(
  standalone: Collection<Document>,
  sources: readonly Collection<Document>[],
  limit: number,
): Promise<AuditDraft[]> {
  if (!(limit > 0)) return [];
  const found: AuditDraft[] = [];
  const alone = await standalone.find({}).sort({ at: 1, _id: 1 }).limit(limit).toArray();
  for (const doc of alone) found.push(draftOf(doc, refOf(standalone.collectionName, doc._id)));
  for (const coll of sources) found.push(...(await listEmbedded(coll, limit)));
  found.sort(compareDrafts);
  const seen = new Set<string>();
  const out: AuditDraft[] = [];
  for (const d of found) {
    if (seen.has(d.id)) continue;
    seen.add(d.id);
    out.push(d);
    if (out.length === limit) break;
  }
  return out;
}

/**
 * Removes listed drafts. Standalone ones (and any without a readable `outbox_ref`) are deleted from
 * `standalone` by id. Embedded ones are pulled by id from their document, then, in a second update, the
 * array and the marker are unset only if the array is empty: a draft another write pushed in between
 * stays, with its marker. In the collections named in `tombstones` (the only ones where documents are
 * deleted as tombstones), a tombstone (see {@link TOMBSTONE_FIELD}) left without drafts is then deleted.
 * The steps of all documents of a collection go in one ordered bulk write (a crash between them leaves at
 * worst a tombstone without drafts, which stays hidden and is purged later, see
 * {@link purgeSpentTombstones}). Drafts of collections not in `sources`, or of documents that no longer
 * hold them, are ignored.
 */
export async function ackOutbox(
  standalone: Collection<Document>,
  sources: readonly Collection<Document>[],
  drafts: readonly AuditDraft[],
  tombstones: readonly string[] = [],
): Promise<void> {
  const byName = new Map(sources.map((c) => [c.collectionName, c]));
  const alone: string[] = [];
  const embedded = new Map<string, Map<unknown, string[]>>();
  for (const d of drafts) {
    const ref = parseRef(d.outbox_ref);
    if (ref === null || ref[0] === standalone.collectionName) {
      alone.push(d.id);
      continue;
    }
    if (!byName.has(ref[0])) continue;
    let docs = embedded.get(ref[0]);
    if (!docs) {
      docs = new Map();
      embedded.set(ref[0], docs);
    }
    const ids = docs.get(ref[1]) ?? [];
    ids.push(d.id);
    docs.set(ref[1], ids);
  }
  if (alone.length > 0) await standalone.deleteMany({ _id: { $in: alone } } as Document);
  for (const [name, docs] of embedded) {
    const pulls: AnyBulkWriteOperation<Document>[] = [];
    const clears: AnyBulkWriteOperation<Document>[] = [];
    const purges: AnyBulkWriteOperation<Document>[] = [];
    const mayHoldTombstones = tombstones.includes(name);
    for (const [id, ids] of docs) {
      const pull: Document = { $pull: { [AUDIT_DRAFTS_FIELD]: { id: { $in: ids } } } };
      pulls.push({ updateOne: { filter: { _id: id } as Document, update: pull } });
      clears.push({
        updateOne: { filter: { _id: id, [AUDIT_DRAFTS_FIELD]: { $size: 0 } } as Document, update: CLEAR },
      });
      if (mayHoldTombstones) purges.push({ deleteOne: { filter: { _id: id, ...SPENT_TOMBSTONE } as Document } });
    }
    await (byName.get(name) as Collection<Document>).bulkWrite([...pulls, ...clears, ...purges], { ordered: true });
  }
}

/**
 * Inserts standalone drafts, skipping ids already there (a duplicate key is not an error here). The caller
 * has already dropped drafts whose id is linked.
 */
export async function insertStandalone(standalone: Collection<Document>, drafts: readonly AuditDraft[]): Promise<void> {
  const byId = new Map<string, Document>();
  for (const d of drafts) if (!byId.has(d.id)) byId.set(d.id, { ...storedDraft(d), _id: d.id });
  if (byId.size === 0) return;
  try {
    await standalone.insertMany([...byId.values()], { ordered: false });
  } catch (err) {
    const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
    const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
    const onlyDuplicates =
      isDuplicateKey(err) &&
      list.every((e) => {
        const code = (e as { code?: unknown }).code;
        return code === 11000 || code === 11001;
      });
    if (!onlyDuplicates) throw err;
  }
}
