import type { BridgeKind, BridgeRecord, BridgeStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { deepFreeze } from './freeze.js';

const keyOf = (orgId: string, kind: BridgeKind) => `${orgId}\u0000${kind}`;

/**
 * In-memory {@link BridgeStorage}: records are frozen copies; data is lost on exit and not shared between
 * processes. Every method completes in one step, so each is atomic.
 */
export class MemoryBridgeStorage implements BridgeStorage {
  private readonly rows = new Map<string, BridgeRecord>();

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    return this.rows.get(keyOf(orgId, kind)) ?? null;
  }

  async create(record: BridgeRecord): Promise<void> {
    const key = keyOf(record.org_id, record.kind);
    if (this.rows.has(key)) throw new StorageError('conflict', `the org already has a ${record.kind} bridge`);
    this.rows.set(key, deepFreeze(structuredClone(record)));
  }

  async replace(record: BridgeRecord, expectedVersion: number): Promise<boolean> {
    const key = keyOf(record.org_id, record.kind);
    const current = this.rows.get(key);
    if (!current || current.version !== expectedVersion) return false;
    this.rows.set(key, deepFreeze(structuredClone(record)));
    return true;
  }

  async delete(orgId: string, kind: BridgeKind): Promise<boolean> {
    return this.rows.delete(keyOf(orgId, kind));
  }
}
