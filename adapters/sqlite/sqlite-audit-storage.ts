import type { AuditDraft, AuditEvent, AuditQuery } from '../../src/audit/types.js';
import type { AuditStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * {@link AuditStorage} on SQLite: the `audit_outbox` table every store of the file writes its drafts into
 * (in the write's own transaction) and the linked chain, `audit_events`.
 */
export class SqliteAuditStorage extends SqliteStore implements AuditStorage {
  // --- audit

  private isLinked(orgId: string, id: string): boolean {
    return this.sql('SELECT 1 FROM audit_events WHERE org_id = ? AND id = ?').get(orgId, id) !== undefined;
  }

  async appendAuditDrafts(drafts: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => this.addDrafts(drafts.filter((d) => !this.isLinked(d.org_id, d.id))));
  }
  async listAuditOutbox(limit: number): Promise<AuditDraft[]> {
    return this.read(() =>
      (this.sql('SELECT doc FROM audit_outbox ORDER BY at, id LIMIT ?').all(limit) as { doc: string }[]).map(
        (r) => JSON.parse(r.doc) as AuditDraft,
      ),
    );
  }
  async ackAuditOutbox(drafts: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      const del = this.sql('DELETE FROM audit_outbox WHERE id = ?');
      for (const d of drafts) del.run(d.id);
    });
  }
  async getAuditHead(orgId: string): Promise<AuditEvent | null> {
    return this.read(() =>
      this.doc<AuditEvent>(
        this.sql('SELECT doc FROM audit_events WHERE org_id = ? ORDER BY seq DESC LIMIT 1').get(orgId),
      ),
    );
  }
  /** All or nothing: a taken seq or id (also within the batch) rolls the whole batch back with `conflict`. */
  async appendAuditEvents(orgId: string, events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.tx(() => {
      const insert = this.sql('INSERT INTO audit_events (org_id, seq, id, doc) VALUES (?, ?, ?, ?)');
      for (const e of events) {
        if (e.org_id !== orgId) throw new StorageError('internal', `audit event ${e.id} is not of org ${orgId}`);
        if (!Number.isSafeInteger(e.seq) || e.seq < 1) {
          throw new StorageError('internal', `audit event ${e.id} has an invalid seq`);
        }
        insert.run(orgId, e.seq, e.id, JSON.stringify(e));
      }
    });
  }
  async findLinkedAuditIds(orgId: string, ids: readonly string[]): Promise<string[]> {
    return this.read(() => [...new Set(ids)].filter((id) => this.isLinked(orgId, id)));
  }
  async listAuditEvents(orgId: string, query: AuditQuery): Promise<AuditEvent[]> {
    return this.read(() => {
      if (query.limit <= 0) return [];
      const where = ['org_id = ?', 'seq > ?'];
      const args: unknown[] = [orgId, Math.floor(query.after_seq ?? 0)];
      if (query.to_seq !== undefined) {
        where.push('seq <= ?');
        args.push(query.to_seq);
      }
      if (query.type !== undefined) {
        where.push("doc ->> '$.type' = ?");
        args.push(query.type);
      }
      if (query.agent_id !== undefined) {
        where.push("doc ->> '$.agent_id' = ?");
        args.push(query.agent_id);
      }
      if (query.subject_id !== undefined) {
        where.push("doc ->> '$.subject.id' = ?");
        args.push(query.subject_id);
      }
      if (query.from !== undefined) {
        where.push("doc ->> '$.at' >= ?");
        args.push(query.from);
      }
      if (query.to !== undefined) {
        where.push("doc ->> '$.at' < ?");
        args.push(query.to);
      }
      return (
        this.sql(`SELECT doc FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`).all(
          ...args,
          query.limit,
        ) as { doc: string }[]
      ).map((r) => JSON.parse(r.doc) as AuditEvent);
    });
  }
}
