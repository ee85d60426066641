import type { AuditDraft } from '../../src/audit/types.js';
import type { BridgeKind, BridgeRecord, BridgeStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { deepFreeze } from './freeze.js';
import { MemoryAuditOutbox } from './memory-audit-outbox.js';

const keyOf = (orgId: string, kind: BridgeKind) => `${orgId}\u0000${kind}`;

/** Options of {@link MemoryBridgeStorage}. */
export interface MemoryBridgeStorageOptions {
  /**
   * Where the audit drafts of bridge writes go: the `auditOutbox` of the MemoryAdapter of the same server.
   * Default: an outbox of its own that no adapter lists (`createMemoryStores` wires them together).
   */
  outbox?: MemoryAuditOutbox;
}

/**
 * In-memory {@link BridgeStorage}: records are frozen copies; data is lost on exit and not shared between
 * processes. Every method completes in one step, so each is atomic; a write's audit drafts go into the
 * outbox in the same step (none when it fails or misses).
 */
export class MemoryBridgeStorage implements BridgeStorage {
  private readonly rows = new Map<string, BridgeRecord>();
  /** Where the drafts of this storage's writes go (see {@link MemoryBridgeStorageOptions.outbox}). */
  readonly auditOutbox: MemoryAuditOutbox;

  constructor(options: MemoryBridgeStorageOptions = {}) {
    this.auditOutbox = options.outbox ?? new MemoryAuditOutbox();
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    return this.rows.get(keyOf(orgId, kind)) ?? null;
  }

  async create(record: BridgeRecord, events?: readonly AuditDraft[]): Promise<void> {
    const key = keyOf(record.org_id, record.kind);
    if (this.rows.has(key)) throw new StorageError('conflict', `the org already has a ${record.kind} bridge`);
    this.rows.set(key, deepFreeze(structuredClone(record)));
    this.auditOutbox.add(events);
  }

  async replace(record: BridgeRecord, expectedVersion: number, events?: readonly AuditDraft[]): Promise<boolean> {
    const key = keyOf(record.org_id, record.kind);
    const current = this.rows.get(key);
    if (!current || current.version !== expectedVersion) return false;
    this.rows.set(key, deepFreeze(structuredClone(record)));
    this.auditOutbox.add(events);
    return true;
  }

  async delete(orgId: string, kind: BridgeKind, events?: readonly AuditDraft[]): Promise<boolean> {
    if (!this.rows.delete(keyOf(orgId, kind))) return false;
    this.auditOutbox.add(events);
    return true;
  }
}
