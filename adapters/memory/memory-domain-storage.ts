import type { AuditDraft } from '../../src/audit/types.js';
import type { DomainStorage, OrgDomainsRecord } from '../../src/storage/index.js';
import { deepFreeze } from './freeze.js';
import type { MemoryAuditOutbox } from './memory-audit-outbox.js';

/**
 * In-memory {@link DomainStorage}: frozen copies, one per org; a save and its drafts (into the shared outbox)
 * happen in one synchronous step. Lost on exit, not shared between processes.
 */
export class MemoryDomainStorage implements DomainStorage {
  private readonly rows = new Map<string, OrgDomainsRecord>();
  private readonly outbox: MemoryAuditOutbox | null;

  constructor(options: { outbox?: MemoryAuditOutbox } = {}) {
    this.outbox = options.outbox ?? null;
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async get(orgId: string): Promise<OrgDomainsRecord | null> {
    return this.rows.get(orgId) ?? null;
  }

  async save(record: OrgDomainsRecord, expectVersion: number | null, events?: readonly AuditDraft[]): Promise<boolean> {
    const current = this.rows.get(record.org_id);
    if ((current?.version ?? null) !== expectVersion) return false;
    this.rows.set(record.org_id, deepFreeze(structuredClone(record)));
    this.outbox?.add(events);
    return true;
  }
}
