import type { AuditEvent, AuditQuery } from '../../src/audit/types.js';
import { StorageError } from '../../src/storage/index.js';
import { packDraft, unpackDraft } from './decision-packing.js';
import { deepFreeze } from './freeze.js';

/** How a test tampers with a stored event: change the given mutable copy in place, or return a replacement. */
export type AuditEventMutation = ((event: AuditEvent) => void) | ((event: AuditEvent) => AuditEvent);

/** One org's chain: events in an array indexed by `seq` (slot 0 unused), and the seq of each id. */
interface OrgChain {
  bySeq: (AuditEvent | undefined)[];
  seqOf: Map<string, number>;
  /** Slots below this one were dropped by the bound. */
  low: number;
  /** The highest occupied slot, 0 for an empty chain. */
  head: number;
}

function isSeq(seq: unknown): seq is number {
  return Number.isSafeInteger(seq) && (seq as number) >= 1;
}

/**
 * The linked audit events of every org of a memory backend. Reads by seq range are slices of the org's
 * array (no scan of the chain), so paging through a long chain costs O(page) per page. Stored events
 * are frozen in place; an event carrying a signed decision is kept with the decision packed (see
 * `packDecision`) and read rebuilt.
 */
export class MemoryAuditChains {
  private readonly orgs = new Map<string, OrgChain>();

  /** `maxPerOrg`: linked events kept per org; the oldest beyond it are dropped on append. */
  constructor(private readonly maxPerOrg = Number.POSITIVE_INFINITY) {}

  private chain(orgId: string, create: true): OrgChain;
  private chain(orgId: string, create: false): OrgChain | undefined;
  private chain(orgId: string, create: boolean): OrgChain | undefined {
    let chain = this.orgs.get(orgId);
    if (!chain && create) {
      chain = { bySeq: [], seqOf: new Map(), head: 0, low: 1 };
      this.orgs.set(orgId, chain);
    }
    return chain;
  }

  /** The event at the highest seq, or null. */
  head(orgId: string): AuditEvent | null {
    const chain = this.chain(orgId, false);
    const head = chain?.bySeq[chain.head];
    return head ? unpackDraft(head) : null;
  }

  /** True when `id` is a linked event of the org. */
  isLinked(orgId: string, id: string): boolean {
    return this.chain(orgId, false)?.seqOf.has(id) ?? false;
  }

  /**
   * Links `events` all or none: every one is checked first (its org, a seq not taken and an id not linked,
   * also within the batch), then all are stored. `conflict` for a taken seq or id. Returns how many old
   * events the bound dropped.
   */
  append(orgId: string, events: readonly AuditEvent[]): number {
    if (events.length === 0) return 0;
    const chain = this.chain(orgId, true);
    const seqs = new Set<number>();
    const ids = new Set<string>();
    for (const e of events) {
      if (e.org_id !== orgId) throw new StorageError('internal', `audit event ${e.id} is not of org ${orgId}`);
      if (!isSeq(e.seq)) throw new StorageError('internal', `audit event ${e.id} has an invalid seq`);
      if (chain.bySeq[e.seq] !== undefined || seqs.has(e.seq)) {
        throw new StorageError('conflict', `audit seq ${e.seq} of ${orgId} is taken`);
      }
      if (chain.seqOf.has(e.id) || ids.has(e.id)) throw new StorageError('conflict', `audit event ${e.id} is linked`);
      seqs.add(e.seq);
      ids.add(e.id);
    }
    for (const e of events) {
      chain.bySeq[e.seq] = packDraft(deepFreeze(e));
      chain.seqOf.set(e.id, e.seq);
      if (e.seq > chain.head) chain.head = e.seq;
    }
    let dropped = 0;
    while (chain.seqOf.size > this.maxPerOrg && chain.low < chain.head) {
      const old = chain.bySeq[chain.low];
      if (old) {
        chain.bySeq[chain.low] = undefined;
        if (chain.seqOf.get(old.id) === chain.low) chain.seqOf.delete(old.id);
        dropped++;
      }
      chain.low++;
    }
    return dropped;
  }

  /** Which of `ids` are linked in the org (each once, in the order given). */
  linked(orgId: string, ids: readonly string[]): string[] {
    const chain = this.chain(orgId, false);
    if (!chain) return [];
    return [...new Set(ids)].filter((id) => chain.seqOf.has(id));
  }

  /** Events matching `query`, ascending by seq: walks the slots from `after_seq + 1`, stops at `limit`. */
  list(orgId: string, query: AuditQuery): AuditEvent[] {
    const chain = this.chain(orgId, false);
    if (!chain || query.limit <= 0) return [];
    const first = Math.max(chain.low, Math.floor(query.after_seq ?? 0) + 1);
    const last = Math.min(chain.head, query.to_seq ?? chain.head);
    const out: AuditEvent[] = [];
    for (let seq = first; seq <= last && out.length < query.limit; seq++) {
      const e = chain.bySeq[seq];
      if (!e) continue;
      if (query.type !== undefined && e.type !== query.type) continue;
      if (query.agent_id !== undefined && e.agent_id !== query.agent_id) continue;
      if (query.subject_id !== undefined && e.subject.id !== query.subject_id) continue;
      if (query.from !== undefined && e.at < query.from) continue;
      if (query.to !== undefined && e.at >= query.to) continue;
      out.push(unpackDraft(e));
    }
    return out;
  }

  /** Every stored event of the org in slot order (holes skipped). */
  all(orgId: string): AuditEvent[] {
    const chain = this.chain(orgId, false);
    return chain ? chain.bySeq.filter((e): e is AuditEvent => e !== undefined).map(unpackDraft) : [];
  }

  private stored(orgId: string, seq: number): { chain: OrgChain; event: AuditEvent } {
    const chain = this.chain(orgId, false);
    const event = chain?.bySeq[seq];
    if (!chain || !event) throw new Error(`no audit event at seq ${seq} of ${orgId}`);
    return { chain, event };
  }

  /** Replaces the event in slot `seq` by what `mutate` makes of a mutable copy (or returns). */
  tamper(orgId: string, seq: number, mutate: AuditEventMutation): AuditEvent {
    const { chain, event } = this.stored(orgId, seq);
    const copy = structuredClone(unpackDraft(event)) as AuditEvent;
    const next = (mutate(copy) as AuditEvent | undefined) ?? copy;
    if (chain.seqOf.get(event.id) === seq) chain.seqOf.delete(event.id);
    chain.seqOf.set(next.id, seq);
    chain.bySeq[seq] = deepFreeze(next);
    return next;
  }

  /** Empties slot `seq`, leaving a gap (the head moves down when it was the head). */
  delete(orgId: string, seq: number): void {
    const { chain, event } = this.stored(orgId, seq);
    chain.bySeq[seq] = undefined;
    if (chain.seqOf.get(event.id) === seq) chain.seqOf.delete(event.id);
    while (chain.head > 0 && chain.bySeq[chain.head] === undefined) chain.head--;
    chain.bySeq.length = chain.head + 1;
  }

  /** Exchanges the seq numbers (and so the slots) of two events; nothing else of them changes. */
  swap(orgId: string, seqA: number, seqB: number): void {
    const a = this.stored(orgId, seqA);
    const b = this.stored(orgId, seqB);
    const chain = a.chain;
    chain.bySeq[seqA] = deepFreeze({ ...b.event, seq: seqA });
    chain.bySeq[seqB] = deepFreeze({ ...a.event, seq: seqB });
    chain.seqOf.set(b.event.id, seqA);
    chain.seqOf.set(a.event.id, seqB);
  }
}
