import type { AuditDraft } from '../../src/audit/types.js';
import { packDraft, unpackDraft } from './decision-packing.js';
import { deepFreeze } from './freeze.js';

/** The outbox order: `at`, then `id` (string comparison, as the contract says). */
export function compareDrafts(a: AuditDraft, b: AuditDraft): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Dead entries at which the order array is compacted (when they are also half of it). */
const COMPACT_AT = 1024;

/**
 * The audit outbox of a memory backend: drafts written with a state change and not yet acknowledged.
 * One instance is shared by a MemoryAdapter (`auditOutbox`) and the MemoryCredentialStorage built with it
 * (see `createMemoryStores`), so the adapter's `listAuditOutbox` returns the drafts of both.
 *
 * Every method is synchronous: a store adds drafts in the same step as its write, so both happen or
 * neither. Drafts are frozen in place (the outbox owns them); a draft carrying a signed decision is kept
 * with the decision packed (see `packDecision`) and listed rebuilt. They are kept in an array sorted by
 * (`at`, `id`), appended to in the common case of a draft no older than the last one, so listing the
 * oldest `limit` costs O(limit) however long the outbox is; acknowledged entries are skipped and
 * compacted away in batches.
 */
export class MemoryAuditOutbox {
  /** Pending drafts by id: an entry of `order` is live when it is the draft stored here. */
  private readonly pending = new Map<string, AuditDraft>();
  private order: AuditDraft[] = [];
  /** Entries of `order` before this index are all acknowledged. */
  private start = 0;
  /** Acknowledged entries at or after `start`. */
  private dead = 0;

  /** Pending drafts. */
  get size(): number {
    return this.pending.size;
  }

  /** True when a draft with this id is pending. */
  has(id: string): boolean {
    return this.pending.has(id);
  }

  /**
   * Stores drafts (frozen, without `outbox_ref`). A draft whose id is already pending is ignored, so a
   * repeated draft is listed once.
   */
  add(drafts: readonly AuditDraft[] | undefined): void {
    if (!drafts) return;
    for (const given of drafts) {
      if (this.pending.has(given.id)) continue;
      let draft = given;
      if (draft.outbox_ref !== undefined) {
        const { outbox_ref: _ref, ...rest } = draft;
        draft = rest;
      }
      draft = packDraft(deepFreeze(draft));
      this.pending.set(draft.id, draft);
      this.insertOrdered(draft);
    }
  }

  /** Up to `limit` pending drafts, oldest first by (`at`, `id`). */
  list(limit: number): AuditDraft[] {
    const out: AuditDraft[] = [];
    for (let i = this.start; i < this.order.length && out.length < limit; i++) {
      const d = this.order[i] as AuditDraft;
      if (this.isLive(d)) out.push(unpackDraft(d));
    }
    return out;
  }

  /** Every pending draft, oldest first. */
  all(): AuditDraft[] {
    return this.list(Number.POSITIVE_INFINITY);
  }

  /** Removes drafts by id; ids that are not pending are ignored. */
  ack(drafts: readonly AuditDraft[]): void {
    for (const d of drafts) {
      if (this.pending.delete(d.id)) this.dead++;
    }
    while (this.start < this.order.length && !this.isLive(this.order[this.start] as AuditDraft)) {
      this.start++;
      this.dead--;
    }
    const span = this.order.length - this.start;
    if (span === 0) {
      this.order = [];
      this.start = 0;
      this.dead = 0;
    } else if (this.start >= COMPACT_AT && this.start * 2 >= this.order.length) {
      this.order = this.order.slice(this.start);
      this.start = 0;
    }
    if (this.dead >= COMPACT_AT && this.dead * 2 >= span) {
      this.order = this.order.slice(this.start).filter((d) => this.isLive(d));
      this.start = 0;
      this.dead = 0;
    }
  }

  private isLive(d: AuditDraft): boolean {
    return this.pending.get(d.id) === d;
  }

  private insertOrdered(draft: AuditDraft): void {
    const last = this.order[this.order.length - 1];
    if (last === undefined || compareDrafts(last, draft) <= 0) {
      this.order.push(draft);
      return;
    }
    let lo = this.start;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareDrafts(this.order[mid] as AuditDraft, draft) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, draft);
  }
}
