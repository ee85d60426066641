import type { AuditDraft } from '../../src/audit/types.js';
import type { DomainStorage, OrgDomainsRecord } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * {@link DomainStorage} on the SQLite database of a SqliteAdapter: one row per org; a save is one IMMEDIATE
 * transaction (the version check, the row and its drafts into the adapter's outbox).
 */
export class SqliteDomainStorage extends SqliteStore implements DomainStorage {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  async get(orgId: string): Promise<OrgDomainsRecord | null> {
    return this.read(() =>
      this.doc<OrgDomainsRecord>(this.sql('SELECT doc FROM org_domains WHERE org_id = ?').get(orgId)),
    );
  }

  async save(record: OrgDomainsRecord, expectVersion: number | null, events?: readonly AuditDraft[]): Promise<boolean> {
    return this.tx(() => {
      const doc = JSON.stringify(record);
      const changes =
        expectVersion === null
          ? this.sql('INSERT OR IGNORE INTO org_domains (org_id, version, doc) VALUES (?, ?, ?)').run(
              record.org_id,
              record.version,
              doc,
            ).changes
          : this.sql('UPDATE org_domains SET version = ?, doc = ? WHERE org_id = ? AND version = ?').run(
              record.version,
              doc,
              record.org_id,
              expectVersion,
            ).changes;
      if (changes !== 1) return false;
      this.addDrafts(events);
      return true;
    });
  }
}
