import { MemoryBridgeStorage } from '../../adapters/memory/index.js';
import type { BridgeKind, BridgeRecord } from '../../src/bridges/index.js';

/** A memory bridge storage whose reads wait while `frozen` is set (a store that hangs). */
export class FreezableBridges extends MemoryBridgeStorage {
  frozen: Promise<void> | null = null;
  override async get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    if (this.frozen) await this.frozen;
    return super.get(orgId, kind);
  }
}
