import type { Collection, Document } from 'mongodb';
import {
  type AdjustResult,
  emptyWindow,
  type ReleaseResult,
  type Reservation,
  type ReserveHints,
  type ReserveResult,
  type UsageAdjustment,
  type UsageReadHints,
  WINDOWS,
} from '../../src/storage/index.js';
import type { UsageSnapshot, WindowUsage } from '../../src/types.js';
import { type Attempt, withRetries } from './retry.js';
import { isDuplicateKey } from './storage-errors.js';
import { decodeKey, encodeKey } from './stored-document.js';

type WindowName = (typeof WINDOWS)[number];
type Periods = Record<WindowName, string>;

interface Hold {
  amount: number;
  periods: Periods;
  /** Transactions it counted (Reservation.count). */
  count: number;
}

/** A usage document as read: one per (org, authority). */
export interface UsageState {
  windows: Record<WindowName, WindowUsage>;
  /** Open holds not yet moved to the hold collection, by reservation id (a bounded few). */
  holds: Map<string, Hold>;
  /** Ids whose release has given its spend back and whose hold record may not say `ended` yet. */
  released: Set<string>;
  /** Bumped whenever a hold leaves `holds`; a reserve pins it (see {@link UsageLedger}). */
  releaseSeq: number;
  /** Bumped whenever entries leave `released`; a release of a moved hold pins it. */
  sweepSeq: number;
}

/** State of a hold record (`reservation_ends`); records written before states existed are ended. */
export type HoldRecordState = 'held' | 'releasing' | 'ended';

/**
 * What a snapshot read: the usage document (null: absent) and, when the caller named the reservation it
 * will apply next, whether that id had a hold record, looked up after the document in the same command.
 */
interface SnapshotRead {
  doc: Document | null;
  lookedUp?: { id: string; recorded: boolean };
}

/** Pending holds of one usage document at which they are moved out, all at once. */
export const MOVE_AT = 32;
/** Release markers of one usage document at which the ended ones are swept out, all at once. */
export const SWEEP_AT = 32;

/** Where a snapshot's aggregation puts the hold record it looked up (removed before the document is kept). */
const HOLD_RECORD_FIELD = '__hold_record';

/** The `_id` of the usage document of an authority. */
export function usageKey(orgId: string, authorityId: string): string {
  return `${orgId}\u0000${authorityId}`;
}

/** The `_id` of the hold record of a reservation of the usage document `key`. */
export function holdKey(key: string, reservationId: string): string {
  return `${key}\u0000${reservationId}`;
}

/** The state of a stored hold record. */
export function holdRecordState(doc: Document): HoldRecordState {
  return doc.state === 'held' || doc.state === 'releasing' ? doc.state : 'ended';
}

/** Reads a stored usage document (or its absence) into a {@link UsageState}. */
export function readUsage(doc: Document | null): UsageState {
  const windows = {} as Record<WindowName, WindowUsage>;
  for (const w of WINDOWS) {
    const cur = doc?.windows?.[w];
    windows[w] = cur
      ? { period: String(cur.period), spent: Number(cur.spent), count: Number(cur.count) }
      : emptyWindow('');
  }
  const holds = new Map<string, Hold>();
  for (const [k, v] of Object.entries((doc?.holds ?? {}) as Record<string, Hold>)) {
    holds.set(decodeKey(k), { amount: Number(v.amount), periods: v.periods, count: heldCount(v) });
  }
  const released = new Set(Object.keys((doc?.released ?? {}) as Record<string, unknown>).map(decodeKey));
  return {
    windows,
    holds,
    released,
    releaseSeq: Number(doc?.release_seq ?? 0),
    sweepSeq: Number(doc?.sweep_seq ?? 0),
  };
}

/** Transactions a stored hold (or hold record) counted: 1 unless it says otherwise (holds before the field). */
function heldCount(hold: { count?: unknown }): number {
  return hold.count === undefined || hold.count === null ? 1 : Number(hold.count);
}

/** A filter on a counter that a document created before the counter existed lacks (reads as 0). */
function seqIs(value: number): unknown {
  return value === 0 ? { $in: [0, null] } : value;
}

/**
 * Usage counters and holds of authorities, with single-document conditional updates (no transactions).
 *
 * The cost of a reserve or a release does not depend on how many holds of the authority are open:
 * no document the hot path reads or rewrites grows with them.
 *
 * Documents:
 * - `usage`, one per (org, authority): `windows.{daily,weekly,monthly,total}` = `{period, spent, count}`;
 *   `holds.<id>` = `{amount, periods, count}`, the *pending* holds: open holds not yet moved out, at most
 *   about {@link MOVE_AT}; `released.<id>`, the *release markers*: set by the very update that gives a
 *   hold's spend back, at most about {@link SWEEP_AT}; and the counters `release_seq`, `sweep_seq`.
 * - `reservation_ends`, one *hold record* per reservation id that left (or is leaving) `holds`:
 *   `_id` = usage `_id` NUL id, `state` (`held` | `releasing` | `ended`), `amount`, `periods`, `count`
 *   (transactions counted; absent on records of earlier versions: 1), `keep`
 *   (of a release), and `ended_at` once ended. Records without `state` (written by earlier versions)
 *   are ended. Only ended records have `ended_at`, so the TTL index forgets ended ids after the
 *   retention (default 35 days) and never touches an open hold.
 *
 * Invariant: an applied id is in `holds`, or has a hold record, or both; a record is written before
 * the id leaves `holds`, and every removal from `holds` bumps `release_seq`.
 *
 * reserve: read the usage document; an id in `holds` is `already_applied`; if anything ever left
 * `holds` (`release_seq > 0`) an id with a hold record (any state) is too. Then one `updateOne` whose
 * filter pins `release_seq`, the absence of `holds.<id>`, every window's period and
 * `spent <= limit - amount` / `count <= limit - 1`, `$inc`s the counters (a window whose period is newer
 * than the stored one is `$set` afresh) and sets `holds.<id>`. Concurrent reserves do not disturb each
 * other: the server applies each `$inc` only while the limits still hold, so the sum in a window never
 * exceeds its limit. The id check is safe against a concurrent removal: a removal before the read left
 * a record the lookup sees; one after the read bumped `release_seq`, so the pinned update fails and the
 * reserve re-reads. A filter that no longer matches means the document moved: re-read.
 *
 * A snapshot told the id its caller reserves next (`UsageReadHints.reservationId`) reads the document and
 * that id's hold record in one command (an aggregate whose `$lookup` runs after the document is read): a
 * reserve starting from it makes no look-up of its own, since the record it would find was written before
 * the id left `holds`, and a removal after the read bumped the `release_seq` its update pins.
 *
 * Moving out (after a reserve that saw {@link MOVE_AT} pending holds): read `holds`, upsert a `held`
 * record for each (an existing record is left as it is), then one update `$unset`s them all and bumps
 * `release_seq` once. Moving every hold on its own would bump `release_seq` on every reserve and make
 * concurrent reserves retry; in a batch the bump comes once per {@link MOVE_AT} reserves. The move is
 * maintenance: it needs no pin (an entry a release removed meanwhile is unset again, a no-op) and its
 * failure only delays it to the next reserve.
 *
 * release: read the usage document (t1), then the hold record (t2), then:
 * 1. no record: an id not in `holds` is `not_held`; a pending one gets a record `releasing` (insert;
 *    a duplicate means someone else got there first: re-read). A `held` record goes to `releasing`
 *    by a conditional update. Either stores `keep`, so whoever finishes gives back the same amount.
 * 2. give back, unless the marker was there at t1: one update that `$inc`s the windows down (pinning
 *    the periods of the windows it gives back; rolled windows are left alone) and sets `released.<id>`.
 *    Its filter requires the marker absent and either `holds.<id>` present (pending at t1: the update
 *    also unsets it and bumps `release_seq`) or `sweep_seq` unchanged since t1 (moved at t1: an id
 *    never returns to `holds`). This is what makes it apply once: a marker is only swept out once its
 *    record is `ended`, i.e. after every reader that saw `releasing` at t2 read the usage document at
 *    t1 < t2; a sweep since then bumped `sweep_seq`, and a pending entry, once unset, fails the filter.
 * 3. `releasing` → `ended` (conditional, with `ended_at`). Exactly one caller wins it and returns
 *    `released` with the amount given back; a concurrent caller of the same id gets `not_held`.
 * A caller that finds `releasing` (a concurrent or crashed release) finishes it from step 2 or 3.
 *
 * Sweeping (after a release that saw {@link SWEEP_AT} markers): unset the markers whose record is
 * `ended`, bumping `sweep_seq`; no pin is needed (an ended record stays ended).
 *
 * Ending an id that was never held (a full release that finds neither a pending hold nor a record; the
 * engine does this when it takes over an abandoned attempt whose reserve may still arrive): one update
 * sets its release marker while `holds.<id>` is absent and `release_seq` is the one read (a hold moved
 * out since would otherwise get a marker without being given back), then an `ended` record is inserted. reserve
 * treats a marker like a hold (`already_applied`) and its update requires the marker absent, so of a
 * reserve and such a release of one id exactly one wins on the usage document: a reserve first makes the
 * release's update miss (it re-reads and releases the hold), a release first makes the reserve's update
 * miss (it re-reads and finds the marker). Once the marker is swept (`sweep_seq > 0`), reserve finds the
 * record as it finds every other one. A crash between the two writes leaves a marker without a record,
 * which no sweep removes: still ended.
 *
 * Crashes, between any two writes: reserve is one write. A move that stops after some upserts leaves
 * `held` records for holds still pending, which every path above accepts. A release that stops after
 * step 1 leaves a `releasing` record and the spend still held: the only leak, until any retry of the
 * release (the engine's sweep keeps retrying a record whose hold is open) finishes it with the stored
 * `keep`; it cannot be avoided without a write that spans two documents. One that stops after step 2 leaves the
 * spend given back, the record `releasing` and the marker set: a retry sees the marker and only ends
 * the record (the marker keeps its sweep away until then). Nothing is ever given back twice, and no id
 * is applied twice: its record exists before it leaves `holds`. Like the forgetting of ended ids, this
 * assumes no single call stalls longer than the retention between its read and its write (a mover or
 * a pending release that slept through the expiry of an ended record could write it again).
 */
export class UsageLedger {
  /**
   * The usage document each snapshot was made from (null: absent), for a reserve that follows it
   * ({@link ReserveHints.basis}): its first try starts from that read instead of reading again.
   */
  private readonly readFrom = new WeakMap<UsageSnapshot, SnapshotRead>();

  constructor(
    private readonly usage: Collection<Document>,
    private readonly ends: Collection<Document>,
    private readonly maxAttempts: number,
    /** One marker per applied adjustment (`_id` = usage `_id` NUL adjustment id); see {@link adjust}. */
    private readonly adjustments?: Collection<Document>,
  ) {}

  async read(orgId: string, authorityId: string): Promise<UsageState> {
    return readUsage(await this.usage.findOne({ _id: usageKey(orgId, authorityId) } as Document));
  }

  private readDoc(key: string): Promise<Document | null> {
    return this.usage.findOne({ _id: key } as Document);
  }

  async snapshot(orgId: string, authorityId: string, periods: Periods, hints?: UsageReadHints): Promise<UsageSnapshot> {
    const reservationId = hints?.reservationId;
    // The whole document (its pending holds and release markers are bounded to a few dozen), so that a
    // reserve following this snapshot can start from it.
    const key = usageKey(orgId, authorityId);
    const read: SnapshotRead = { doc: null };
    if (reservationId === undefined) {
      read.doc = await this.usage.findOne({ _id: key } as Document);
    } else {
      // With the hold record of the id the caller reserves next, looked up by the same command after the
      // document was read: what the reserve's own look-up would find (see reserve).
      const [found] = await this.usage
        .aggregate([
          { $match: { _id: key } },
          {
            $lookup: {
              from: this.ends.collectionName,
              pipeline: [{ $match: { _id: holdKey(key, reservationId) } }, { $project: { _id: 1 } }],
              as: HOLD_RECORD_FIELD,
            },
          },
        ])
        .toArray();
      if (found) {
        const records = found[HOLD_RECORD_FIELD];
        delete found[HOLD_RECORD_FIELD];
        read.doc = found;
        read.lookedUp = { id: reservationId, recorded: Array.isArray(records) && records.length > 0 };
      }
    }
    const doc = read.doc;
    const state = readUsage(doc);
    if (hints && reservationId !== undefined) {
      // No document: nothing was ever reserved on the authority.
      hints.applied =
        doc !== null &&
        (state.holds.has(reservationId) || state.released.has(reservationId) || read.lookedUp?.recorded === true);
    }
    const at = (w: WindowName): WindowUsage => {
      const cur = state.windows[w];
      return cur.period === periods[w] ? { ...cur } : emptyWindow(periods[w]);
    };
    const snapshot = { daily: at('daily'), weekly: at('weekly'), monthly: at('monthly'), total: at('total') };
    this.readFrom.set(snapshot, read);
    return snapshot;
  }

  reserve(orgId: string, authorityId: string, reservation: Reservation, hints?: ReserveHints): Promise<ReserveResult> {
    const key = usageKey(orgId, authorityId);
    const id = reservation.reservation_id;
    const holdPath = `holds.${encodeKey(id)}`;
    // A read the caller made for its decision stands in for the first read: every check below is pinned in
    // the update's filter, so an old read can only make the update miss (then it reads again) or say
    // `limit_exceeded` from spend that was given back since, never pass a limit.
    let basis = hints?.basis !== undefined ? this.readFrom.get(hints.basis) : undefined;
    let first = true;
    return withRetries(this.maxAttempts, 'reserveUsage', async (): Promise<Attempt<ReserveResult>> => {
      const read = basis;
      basis = undefined;
      const doc = read !== undefined ? read.doc : await this.readDoc(key);
      if (!doc) {
        await this.create(key, orgId, authorityId);
        return 'retry';
      }
      const state = readUsage(doc);
      if (state.holds.has(id) || state.released.has(id)) return { done: { status: 'already_applied' } };
      // An id no one else applies has no hold record of an application to look for (see ReserveHints); an
      // ending of it is caught by the update's filter instead. Only on the first try: a retry reads afresh
      // and looks.
      const skipLookup = hints?.unused === true && first;
      first = false;
      // A snapshot that looked this id up after reading the document made the look-up already: a record
      // means applied; none means none was written before the document read, and a hold moved out since
      // bumped `release_seq`, which the update pins (the same argument as for the look-up below).
      const lookedUp = read?.lookedUp?.id === id ? read.lookedUp : undefined;
      if (lookedUp?.recorded) return { done: { status: 'already_applied' } };
      if (
        !skipLookup &&
        lookedUp === undefined &&
        (state.releaseSeq > 0 || state.sweepSeq > 0) &&
        (await this.ends.findOne({ _id: holdKey(key, id) } as Document))
      ) {
        return { done: { status: 'already_applied' } };
      }
      const filter: Document = {
        _id: key,
        release_seq: state.releaseSeq,
        [holdPath]: { $exists: false },
        [`released.${encodeKey(id)}`]: { $exists: false },
      };
      // Without the lookup, an id ended since the read (a take-over's release sets its marker first) is
      // caught by the marker, and a sweep of that marker since the read by the pinned sweep counter.
      if (skipLookup) filter.sweep_seq = seqIs(state.sweepSeq);
      const inc: Document = {};
      const set: Document = {};
      const periods = {} as Periods;
      const count = reservation.count ?? 1;
      for (const w of WINDOWS) {
        const want = reservation.windows[w];
        const cur = state.windows[w];
        // A stale server clock may ask for an older period: count against the newer one instead.
        const fresh = cur.period < want.period;
        const base = fresh ? emptyWindow(want.period) : cur;
        if (want.amount_limit !== null && base.spent + reservation.amount > want.amount_limit) {
          return { done: { status: 'limit_exceeded', window: w, kind: 'amount' } };
        }
        if (want.count_limit !== null && base.count + count > want.count_limit) {
          return { done: { status: 'limit_exceeded', window: w, kind: 'count' } };
        }
        filter[`windows.${w}.period`] = cur.period;
        periods[w] = base.period;
        if (fresh) {
          set[`windows.${w}`] = { period: want.period, spent: reservation.amount, count };
          continue;
        }
        if (want.amount_limit !== null) filter[`windows.${w}.spent`] = { $lte: want.amount_limit - reservation.amount };
        if (want.count_limit !== null && count > 0) filter[`windows.${w}.count`] = { $lte: want.count_limit - count };
        inc[`windows.${w}.spent`] = reservation.amount;
        if (count > 0) inc[`windows.${w}.count`] = count;
      }
      set[holdPath] = { amount: reservation.amount, periods, count };
      const update: Document = { $set: set };
      if (Object.keys(inc).length > 0) update.$inc = inc;
      const res = await this.usage.updateOne(filter, update);
      if (res.modifiedCount !== 1) return 'retry';
      if (state.holds.size + 1 >= MOVE_AT) await this.moveOut(key).catch(() => {});
      return { done: { status: 'reserved' } };
    });
  }

  /**
   * Moves every pending hold of a usage document to a `held` record, then out of the document with
   * one update (see {@link UsageLedger}). Maintenance: a failure leaves the holds pending, still valid.
   */
  async moveOut(key: string): Promise<void> {
    const doc = await this.usage.findOne({ _id: key } as Document, { projection: { holds: 1 } });
    const holds = readUsage(doc).holds;
    if (holds.size === 0) return;
    try {
      await this.ends.bulkWrite(
        [...holds].map(([id, hold]) => ({
          updateOne: {
            filter: { _id: holdKey(key, id) } as Document,
            update: { $setOnInsert: { state: 'held', amount: hold.amount, periods: hold.periods, count: hold.count } },
            upsert: true,
          },
        })),
        { ordered: false },
      );
    } catch (err) {
      // Two movers raced to insert a record (a duplicate key): fine once every record is there.
      const ids = [...holds.keys()].map((id) => holdKey(key, id));
      if ((await this.ends.countDocuments({ _id: { $in: ids } } as Document)) !== holds.size) throw err;
    }
    const unset: Document = {};
    for (const id of holds.keys()) unset[`holds.${encodeKey(id)}`] = '';
    await this.usage.updateOne({ _id: key } as Document, { $unset: unset, $inc: { release_seq: 1 } });
  }

  release(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    const key = usageKey(orgId, authorityId);
    const recordKey = holdKey(key, reservationId);
    return withRetries(this.maxAttempts, 'releaseUsage', async (): Promise<Attempt<ReleaseResult>> => {
      // The usage document first (t1), then the record (t2): see the class comment.
      const doc = await this.readDoc(key);
      const state = readUsage(doc);
      let record: Document | null = await this.ends.findOne({ _id: recordKey } as Document);
      const pending = state.holds.get(reservationId);
      if (!record) {
        if (!pending) {
          if (keep !== undefined || state.released.has(reservationId)) return { done: { status: 'not_held' } };
          if (!doc) {
            await this.create(key, orgId, authorityId);
            return 'retry';
          }
          return (await this.endUnheld(key, state, reservationId)) ? { done: { status: 'not_held' } } : 'retry';
        }
        const fresh: Document = {
          _id: recordKey,
          state: 'releasing',
          amount: pending.amount,
          periods: pending.periods,
          count: pending.count,
        };
        fresh.keep = keep ?? null;
        record = fresh;
        try {
          await this.ends.insertOne(fresh);
        } catch (err) {
          if (isDuplicateKey(err)) return 'retry';
          throw err;
        }
      } else if (holdRecordState(record) === 'ended') {
        return { done: { status: 'not_held' } };
      } else if (record.state === 'held') {
        record = await this.ends.findOneAndUpdate(
          { _id: recordKey, state: 'held' } as Document,
          { $set: { state: 'releasing', keep: keep ?? null } },
          { returnDocument: 'after' },
        );
        if (!record) return 'retry';
      }
      const amount = Number(record.amount);
      const periods = record.periods as Periods;
      const kept = record.keep === null || record.keep === undefined ? undefined : Number(record.keep);
      const giveBack = kept === undefined ? amount : Math.max(0, amount - kept);
      const countBack = kept === undefined ? heldCount(record) : 0;
      if (!state.released.has(reservationId)) {
        const ok = await this.giveBack(key, state, reservationId, pending !== undefined, periods, giveBack, countBack);
        if (!ok) return 'retry';
      }
      const ended = await this.ends.updateOne({ _id: recordKey, state: 'releasing' } as Document, {
        $set: { state: 'ended', ended_at: new Date() },
      });
      if (state.released.size + 1 >= SWEEP_AT) await this.sweep(key).catch(() => {});
      // Whoever ends the record reports the release; a concurrent caller of the same id sees it ended.
      return { done: ended.modifiedCount === 1 ? { status: 'released', amount: giveBack } : { status: 'not_held' } };
    });
  }

  /**
   * A full release of an id that is not held ends it, so that a reserve of it arriving later applies
   * nothing (see {@link UsageLedger}): sets its release marker, only while it is still not pending and
   * nothing left `holds` since `state` was read (the arbiter against a concurrent reserve, whose filter
   * requires the marker absent, and against that reserve's hold being moved out meanwhile), then writes
   * an `ended` record so the marker can be swept like any other. False when the document changed so:
   * the caller re-reads and releases the id as a hold if it is one now.
   */
  private async endUnheld(key: string, state: UsageState, reservationId: string): Promise<boolean> {
    const markerPath = `released.${encodeKey(reservationId)}`;
    const res = await this.usage.updateOne(
      {
        _id: key,
        release_seq: seqIs(state.releaseSeq),
        [`holds.${encodeKey(reservationId)}`]: { $exists: false },
      } as Document,
      { $set: { [markerPath]: 1 } },
    );
    if (res.matchedCount !== 1) return false;
    try {
      await this.ends.insertOne({
        _id: holdKey(key, reservationId),
        state: 'ended',
        amount: 0,
        periods: null,
        keep: null,
        ended_at: new Date(),
      } as Document);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    return true;
  }

  /**
   * Step 2 of a release: gives the spend back and sets the release marker, once (see
   * {@link UsageLedger}). `pending` says whether the hold was in `holds` when `state` was read.
   * False when the document moved since: the caller re-reads.
   */
  async giveBack(
    key: string,
    state: UsageState,
    reservationId: string,
    pending: boolean,
    periods: Periods,
    amount: number,
    count: number,
  ): Promise<boolean> {
    const holdPath = `holds.${encodeKey(reservationId)}`;
    const markerPath = `released.${encodeKey(reservationId)}`;
    const filter: Document = { _id: key, [markerPath]: { $exists: false } };
    const update: Document = { $set: { [markerPath]: 1 } };
    const inc: Document = {};
    if (pending) {
      filter[holdPath] = { $exists: true };
      update.$unset = { [holdPath]: '' };
      inc.release_seq = 1;
    } else {
      filter.sweep_seq = seqIs(state.sweepSeq);
    }
    for (const w of WINDOWS) {
      // Periods only move forward, so a window that has rolled past the hold's period stays rolled.
      if (state.windows[w].period !== periods[w]) continue;
      filter[`windows.${w}.period`] = periods[w];
      if (amount !== 0) inc[`windows.${w}.spent`] = -amount;
      if (count !== 0) inc[`windows.${w}.count`] = -count;
    }
    if (Object.keys(inc).length > 0) update.$inc = inc;
    const res = await this.usage.updateOne(filter, update);
    return res.modifiedCount === 1;
  }

  /** Unsets the release markers whose record is ended, bumping `sweep_seq` (see {@link UsageLedger}). */
  async sweep(key: string): Promise<void> {
    const doc = await this.usage.findOne({ _id: key } as Document, { projection: { released: 1 } });
    const ids = [...readUsage(doc).released];
    if (ids.length === 0) return;
    const ended = await this.ends
      .find({ _id: { $in: ids.map((id) => holdKey(key, id)) }, state: 'ended' } as Document, { projection: { _id: 1 } })
      .toArray();
    if (ended.length === 0) return;
    const prefix = holdKey(key, '');
    const unset: Document = {};
    for (const e of ended) unset[`released.${encodeKey(String(e._id).slice(prefix.length))}`] = '';
    await this.usage.updateOne({ _id: key } as Document, { $unset: unset, $inc: { sweep_seq: 1 } });
  }

  /**
   * An adjustment (see UsageLedger.adjustUsage), applied once without transactions in three single-document
   * steps: (1) insert its marker `applying` in `usage_adjustments`; (2) one `updateOne` of the usage document
   * that `$inc`s `spent` of the windows whose period is the adjustment's (pinned in the filter, with
   * `spent >= -delta` for a decrease, so it never goes below zero) and sets `adjusting.<id>`, only while that
   * flag is absent; (3) mark the marker `applied`, then unset the flag. A replay after a crash finds the
   * marker `applying`: the flag tells whether (2) happened. A flag left by a crash after the marker became
   * `applied` is inert.
   *
   * A concurrent call of the same id must not apply (2) again once another call has done (2) and (3): the
   * flag is gone by then. So each attempt reads the usage document before the marker, and (2) is pinned on
   * the document's `adjust_seq`, which every set and unset of a flag moves. Flag absent at the read and
   * marker still `applying` after it means no call had done (3) yet; any (2) or (3) after the read moves
   * `adjust_seq`, so this call's (2) loses its filter and the next attempt sees the flag or the `applied`
   * marker.
   */
  adjust(orgId: string, authorityId: string, adjustment: UsageAdjustment): Promise<AdjustResult> {
    const markers = this.adjustments;
    if (!markers) throw new Error('this ledger was built without its adjustments collection');
    const key = usageKey(orgId, authorityId);
    const markerId = holdKey(key, adjustment.adjustment_id);
    const flag = `adjusting.${encodeKey(adjustment.adjustment_id)}`;
    return withRetries(this.maxAttempts, 'adjustUsage', async (): Promise<Attempt<AdjustResult>> => {
      // The document first, then the marker (see above): never the other way round.
      const doc = await this.readDoc(key);
      const marker = await markers.findOne({ _id: markerId } as Document);
      if (marker?.state === 'applied') return { done: { status: 'already_applied' } };
      if (!marker) {
        try {
          await markers.insertOne({
            _id: markerId,
            state: 'applying',
            amount: adjustment.amount,
            periods: adjustment.periods,
          } as Document);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        return 'retry';
      }
      if (doc && doc.adjusting?.[encodeKey(adjustment.adjustment_id)] === undefined) {
        const state = readUsage(doc);
        const filter: Document = {
          _id: key,
          [flag]: { $exists: false },
          adjust_seq: typeof doc.adjust_seq === 'number' ? doc.adjust_seq : { $exists: false },
        };
        const inc: Document = { adjust_seq: 1 };
        for (const w of WINDOWS) {
          const cur = state.windows[w];
          if (cur.period !== adjustment.periods[w]) continue;
          const delta = Math.max(-cur.spent, adjustment.amount);
          filter[`windows.${w}.period`] = cur.period;
          if (delta < 0) filter[`windows.${w}.spent`] = { $gte: -delta };
          if (delta !== 0) inc[`windows.${w}.spent`] = delta;
        }
        const res = await this.usage.updateOne(filter, { $set: { [flag]: true }, $inc: inc });
        if (res.matchedCount !== 1) return 'retry';
      }
      const applied = await markers.updateOne({ _id: markerId, state: 'applying' } as Document, {
        $set: { state: 'applied', applied_at: new Date() },
      });
      if (doc) {
        await this.usage.updateOne({ _id: key, [flag]: { $exists: true } } as Document, {
          $unset: { [flag]: '' },
          $inc: { adjust_seq: 1 },
        });
      }
      return { done: applied.modifiedCount === 1 ? { status: 'adjusted' } : { status: 'already_applied' } };
    });
  }

  private async create(key: string, orgId: string, authorityId: string): Promise<void> {
    const windows = Object.fromEntries(WINDOWS.map((w) => [w, emptyWindow('')]));
    try {
      await this.usage.updateOne(
        { _id: key } as Document,
        {
          $setOnInsert: {
            org_id: orgId,
            authority_id: authorityId,
            windows,
            holds: {},
            released: {},
            release_seq: 0,
            sweep_seq: 0,
          },
        },
        { upsert: true },
      );
    } catch (err) {
      // Two first reserves raced to create the document: the other one did.
      if (!isDuplicateKey(err)) throw err;
    }
  }
}
