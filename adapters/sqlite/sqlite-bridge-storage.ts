import type { BridgeKind, BridgeRecord, BridgeStorage } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/** {@link BridgeStorage} on the SQLite database of a SqliteAdapter: one row per (org, kind). */
export class SqliteBridgeStorage extends SqliteStore implements BridgeStorage {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  async get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null> {
    return this.read(() =>
      this.doc<BridgeRecord>(this.sql('SELECT doc FROM bridges WHERE org_id = ? AND kind = ?').get(orgId, kind)),
    );
  }

  async create(record: BridgeRecord): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO bridges (org_id, kind, version, doc) VALUES (?, ?, ?, ?)').run(
        record.org_id,
        record.kind,
        record.version,
        JSON.stringify(record),
      );
    });
  }

  async replace(record: BridgeRecord, expectedVersion: number): Promise<boolean> {
    return this.tx(
      () =>
        this.sql('UPDATE bridges SET version = ?, doc = ? WHERE org_id = ? AND kind = ? AND version = ?').run(
          record.version,
          JSON.stringify(record),
          record.org_id,
          record.kind,
          expectedVersion,
        ).changes === 1,
    );
  }

  async delete(orgId: string, kind: BridgeKind): Promise<boolean> {
    return this.tx(() => this.sql('DELETE FROM bridges WHERE org_id = ? AND kind = ?').run(orgId, kind).changes === 1);
  }
}
