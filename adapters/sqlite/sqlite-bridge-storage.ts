import type { AuditDraft } from '../../src/audit/types.js';
import type { BridgeKind, BridgeRecord, BridgeStorage } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * {@link BridgeStorage} on the SQLite database of a SqliteAdapter: one row per (org, kind). A write's audit
 * drafts join the adapter's outbox in the write's own transaction (none when it fails or misses).
 */
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

  async create(record: BridgeRecord, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO bridges (org_id, kind, version, doc) VALUES (?, ?, ?, ?)').run(
        record.org_id,
        record.kind,
        record.version,
        JSON.stringify(record),
      );
      this.addDrafts(events);
    });
  }

  async replace(record: BridgeRecord, expectedVersion: number, events?: readonly AuditDraft[]): Promise<boolean> {
    return this.tx(() => {
      const changed =
        this.sql('UPDATE bridges SET version = ?, doc = ? WHERE org_id = ? AND kind = ? AND version = ?').run(
          record.version,
          JSON.stringify(record),
          record.org_id,
          record.kind,
          expectedVersion,
        ).changes === 1;
      if (changed) this.addDrafts(events);
      return changed;
    });
  }

  async delete(orgId: string, kind: BridgeKind, events?: readonly AuditDraft[]): Promise<boolean> {
    return this.tx(() => {
      const deleted = this.sql('DELETE FROM bridges WHERE org_id = ? AND kind = ?').run(orgId, kind).changes === 1;
      if (deleted) this.addDrafts(events);
      return deleted;
    });
  }
}
