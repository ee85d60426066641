import type { AuditDraft, AuditEvent, AuditQuery } from '../../src/audit/types.js';
import type { AuditStorage } from '../../src/storage/index.js';
import type { MemoryAdapterOptions } from './memory-adapter.js';
import { type AuditEventMutation, MemoryAuditChains } from './memory-audit-chain.js';
import type { MemoryAuditOutbox } from './memory-audit-outbox.js';

/**
 * {@link AuditStorage} in memory: the backend's shared {@link MemoryAuditOutbox} (every store adds a write's
 * drafts to it in the write's own step) and each org's chain, bounded by `maxAuditEvents`.
 */
export class MemoryAuditStorage implements AuditStorage {
  private readonly auditChains: MemoryAuditChains;
  private readonly onDrop: MemoryAdapterOptions['onDrop'];
  private droppedAuditEvents = 0;

  constructor(
    private readonly outbox: MemoryAuditOutbox,
    options: MemoryAdapterOptions = {},
  ) {
    this.auditChains = new MemoryAuditChains(options.maxAuditEvents);
    this.onDrop = options.onDrop;
  }

  async appendAuditDrafts(drafts: readonly AuditDraft[]): Promise<void> {
    this.outbox.add(drafts.filter((d) => !this.auditChains.isLinked(d.org_id, d.id)));
  }
  /** The stored (frozen) drafts, oldest first by (`at`, `id`); no `outbox_ref` is needed to ack them. */
  async listAuditOutbox(limit: number): Promise<AuditDraft[]> {
    return this.outbox.list(limit);
  }
  async ackAuditOutbox(drafts: readonly AuditDraft[]): Promise<void> {
    this.outbox.ack(drafts);
  }
  async getAuditHead(orgId: string): Promise<AuditEvent | null> {
    return this.auditChains.head(orgId);
  }
  /** All or nothing: every event is checked (seq free, id not linked, also within the batch) before any is stored. */
  async appendAuditEvents(orgId: string, events: readonly AuditEvent[]): Promise<void> {
    const dropped = this.auditChains.append(orgId, events);
    if (dropped > 0) {
      this.droppedAuditEvents += dropped;
      this.onDrop?.({ kind: 'audit_events', dropped, total_dropped: this.droppedAuditEvents });
    }
  }
  async findLinkedAuditIds(orgId: string, ids: readonly string[]): Promise<string[]> {
    return this.auditChains.linked(orgId, ids);
  }
  async listAuditEvents(orgId: string, query: AuditQuery): Promise<AuditEvent[]> {
    return this.auditChains.list(orgId, query);
  }

  /** Test hook: every pending audit draft, oldest first (frozen). */
  inspectAuditOutbox(): AuditDraft[] {
    return this.outbox.all();
  }

  /** Test hook: the org's stored chain in seq order (frozen events; gaps left by a deletion are skipped). */
  inspectAuditChain(orgId: string): AuditEvent[] {
    return this.auditChains.all(orgId);
  }

  /**
   * TEST ONLY: tampers with the stored chain, bypassing the contract, so a verifier can be shown to catch
   * it. `mutate` gets a mutable deep copy of the event at `seq` and changes it in place (or returns a
   * replacement); the result is stored in the slot of `seq` as is (no hash is recomputed, and it stays in
   * that slot even if its `seq` field was changed). Throws when there is no event at `seq`.
   */
  tamperAuditEvent(orgId: string, seq: number, mutate: AuditEventMutation): AuditEvent {
    return this.auditChains.tamper(orgId, seq, mutate);
  }

  /**
   * TEST ONLY: deletes the stored event at `seq`, leaving a gap in the chain (when it was the head, the
   * head becomes the event before it). Throws when there is no event at `seq`.
   */
  deleteAuditEvent(orgId: string, seq: number): void {
    this.auditChains.delete(orgId, seq);
  }

  /**
   * TEST ONLY: exchanges the `seq` of two stored events (each moves to the other's place; nothing else of
   * them changes, hashes included), i.e. reorders the chain. Throws when either seq has no event.
   */
  swapAuditEvents(orgId: string, seqA: number, seqB: number): void {
    this.auditChains.swap(orgId, seqA, seqB);
  }
}
