import type { AuditDraft, AuditEvent } from '../../src/audit/types.js';
import { ComposedStorageBase, type StoreLifecycle } from '../../src/storage/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import type { AuditEventMutation } from './memory-audit-chain.js';
import { MemoryAuditOutbox } from './memory-audit-outbox.js';
import { MemoryAuditStorage } from './memory-audit-storage.js';
import { MemoryAuthorizationStorage } from './memory-authorization-storage.js';
import { MemoryEntityStorage } from './memory-entity-storage.js';
import { MemoryUsageLedger } from './memory-usage-ledger.js';

/** Options of {@link MemoryAdapter}: how much history it keeps. */
export interface MemoryAdapterOptions {
  /**
   * Authorization records kept; beyond it the oldest that hold nothing are dropped (a dropped id is
   * decided anew when it comes again). Default: all (`allowance serve` bounds it by ALLOWANCE_MEMORY_HISTORY).
   */
  maxAuthorizations?: number;
  /** Linked audit events kept per org; beyond it the oldest are dropped (the chain no longer verifies). Default: all. */
  maxAuditEvents?: number;
  /** Called each time history is dropped, with the totals dropped so far (log a warning). */
  onDrop?: (drop: { kind: 'authorizations' | 'audit_events'; dropped: number; total_dropped: number }) => void;
}

/** Nothing to open or close in memory. */
const MEMORY_LIFECYCLE: StoreLifecycle = {
  init: async () => {},
  ping: async () => {},
  close: async () => {},
};

/**
 * The embedded in-memory adapter: the default for development and tests. Every operation runs
 * without awaiting in between, so each one is atomic within the process. Written objects are frozen
 * (the adapter owns them from then on) and reads return those frozen objects. Data is lost on exit
 * and not shared between processes: never use it for more than one server.
 *
 * The engine's stores, one per contract (entities, authorizations, usage ledger, audit; each in its own
 * file), composed. Audit: a write's drafts go into {@link MemoryAdapter.auditOutbox}, the one outbox every
 * store of the backend shares, in the same step as the write (none when it fails); a MemoryCredentialStorage
 * shares that outbox when built with it (`createMemoryStores`).
 * Each org's chain is an array indexed by `seq`, so seq-range reads are slices.
 */
export class MemoryAdapter extends ComposedStorageBase {
  /**
   * The audit outbox of this store. Pass it to `new MemoryCredentialStorage({ outbox })` (or use
   * `createMemoryStores`) so credential drafts are listed by {@link MemoryAdapter.listAuditOutbox} too.
   */
  readonly auditOutbox: MemoryAuditOutbox;
  readonly entities: MemoryEntityStorage;
  readonly authorizations: MemoryAuthorizationStorage;
  readonly usage: MemoryUsageLedger;
  readonly audit: MemoryAuditStorage;

  constructor(options: MemoryAdapterOptions = {}) {
    const outbox = new MemoryAuditOutbox();
    const entities = new MemoryEntityStorage(outbox);
    const authorizations = new MemoryAuthorizationStorage(outbox, options);
    const usage = new MemoryUsageLedger();
    const audit = new MemoryAuditStorage(outbox, options);
    super({ entities, authorizations, usage, audit, lifecycle: MEMORY_LIFECYCLE });
    this.auditOutbox = outbox;
    this.entities = entities;
    this.authorizations = authorizations;
    this.usage = usage;
    this.audit = audit;
  }

  // Test hooks and the policy analysis storage's reads, answered by the store that holds the data.

  /** Test hook: the raw usage state, as the conformance suite reads the backing store directly. */
  inspectUsage(orgId: string, authorityId: string) {
    return this.usage.inspectUsage(orgId, authorityId);
  }
  /** Test hook: a stored entity by kind and id, whatever its org (a frozen snapshot), or null. */
  inspectEntity(kind: Parameters<MemoryEntityStorage['inspectEntity']>[0], id: string) {
    return this.entities.inspectEntity(kind, id);
  }
  /** The read behind MemoryPolicyAnalysisStorage.scanAuthorizations (see MemoryAuthorizationStorage). */
  scanAuthorizations(orgId: string, scan: { from: string; to: string; after?: string; limit: number }) {
    return this.authorizations.scanAuthorizations(orgId, scan);
  }
  /** How many of the org's authorizations were created in [from, to), counting at most `cap`. */
  countAuthorizations(orgId: string, from: string, to: string, cap: number): number {
    return this.authorizations.countAuthorizations(orgId, from, to, cap);
  }
  /** Test hook: the stored authorization record, or null. */
  inspectAuthorization(processorId: string, authorizationId: string): AuthorizationRecord | null {
    return this.authorizations.inspectAuthorization(processorId, authorizationId);
  }
  /** Test hook: every pending audit draft, oldest first (frozen). */
  inspectAuditOutbox(): AuditDraft[] {
    return this.audit.inspectAuditOutbox();
  }
  /** Test hook: the org's stored chain in seq order (frozen events; gaps left by a deletion are skipped). */
  inspectAuditChain(orgId: string): AuditEvent[] {
    return this.audit.inspectAuditChain(orgId);
  }
  /** TEST ONLY: see MemoryAuditStorage.tamperAuditEvent. */
  tamperAuditEvent(orgId: string, seq: number, mutate: AuditEventMutation): AuditEvent {
    return this.audit.tamperAuditEvent(orgId, seq, mutate);
  }
  /** TEST ONLY: see MemoryAuditStorage.deleteAuditEvent. */
  deleteAuditEvent(orgId: string, seq: number): void {
    this.audit.deleteAuditEvent(orgId, seq);
  }
  /** TEST ONLY: see MemoryAuditStorage.swapAuditEvents. */
  swapAuditEvents(orgId: string, seqA: number, seqB: number): void {
    this.audit.swapAuditEvents(orgId, seqA, seqB);
  }
}
