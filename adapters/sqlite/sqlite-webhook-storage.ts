import type { AuditDraft } from '../../src/audit/types.js';
import type { ListQuery, Page, WebhookDelivery, WebhookEndpoint, WebhookStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * {@link WebhookStorage} on the SQLite database of a SqliteAdapter: endpoint writes put their drafts into
 * the adapter's outbox in the same transaction; every compare-and-set is one IMMEDIATE transaction.
 */
export class SqliteWebhookStorage extends SqliteStore implements WebhookStorage {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  private endpointSync(orgId: string, id: string): WebhookEndpoint | null {
    return this.doc<WebhookEndpoint>(
      this.sql('SELECT doc FROM webhook_endpoints WHERE id = ? AND org_id = ?').get(id, orgId),
    );
  }

  private putEndpoint(row: WebhookEndpoint, patch: Partial<WebhookEndpoint>): WebhookEndpoint {
    const next: WebhookEndpoint = { ...row, ...patch, id: row.id, org_id: row.org_id, version: row.version + 1 };
    this.sql('UPDATE webhook_endpoints SET status = ?, version = ?, doc = ? WHERE id = ?').run(
      next.status,
      next.version,
      JSON.stringify(next),
      next.id,
    );
    return next;
  }

  async insertEndpoint(endpoint: WebhookEndpoint, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO webhook_endpoints (id, org_id, status, version, doc) VALUES (?, ?, ?, ?, ?)').run(
        endpoint.id,
        endpoint.org_id,
        endpoint.status,
        endpoint.version,
        JSON.stringify(endpoint),
      );
      this.addDrafts(events);
    });
  }

  async getEndpoint(orgId: string, id: string): Promise<WebhookEndpoint | null> {
    return this.read(() => this.endpointSync(orgId, id));
  }

  async listEndpoints(orgId: string, query: ListQuery): Promise<Page<WebhookEndpoint>> {
    return this.read(() => {
      const where = ['org_id = ?'];
      const args: unknown[] = [orgId];
      if (query.status !== undefined) {
        where.push('status = ?');
        args.push(query.status);
      }
      if (query.cursor !== undefined) {
        where.push('id < ?');
        args.push(query.cursor);
      }
      const rows = this.docs<WebhookEndpoint>(
        this.sql(`SELECT doc FROM webhook_endpoints WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`).all(
          ...args,
          query.limit + 1,
        ),
      );
      const items = rows.slice(0, query.limit);
      const last = items[items.length - 1];
      return { items, next_cursor: rows.length > query.limit && last ? last.id : null };
    });
  }

  async listActiveEndpoints(afterId: string | null, limit: number): Promise<WebhookEndpoint[]> {
    return this.read(() =>
      this.docs<WebhookEndpoint>(
        this.sql("SELECT doc FROM webhook_endpoints WHERE status = 'active' AND id > ? ORDER BY id LIMIT ?").all(
          afterId ?? '',
          limit,
        ),
      ),
    );
  }

  async updateEndpoint(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<WebhookEndpoint>,
    events?: readonly AuditDraft[],
  ): Promise<WebhookEndpoint | null> {
    return this.tx(() => {
      const row = this.endpointSync(orgId, id);
      if (!row) return null;
      if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
      const next = this.putEndpoint(row, patch);
      this.addDrafts(events);
      return next;
    });
  }

  async advanceEndpointCursor(orgId: string, id: string, fromSeq: number, toSeq: number): Promise<boolean> {
    return this.tx(() => {
      const row = this.endpointSync(orgId, id);
      if (!row || row.cursor_seq !== fromSeq) return false;
      this.putEndpoint(row, { cursor_seq: toSeq });
      return true;
    });
  }

  async recordEndpointOutcome(
    orgId: string,
    id: string,
    outcome: 'delivered' | 'failed',
    at: string,
  ): Promise<WebhookEndpoint | null> {
    return this.tx(() => {
      const row = this.endpointSync(orgId, id);
      if (!row) return null;
      const failures = outcome === 'delivered' ? 0 : row.consecutive_failures + 1;
      return this.putEndpoint(row, { consecutive_failures: failures, updated_at: at });
    });
  }

  async deleteEndpoint(orgId: string, id: string, events?: readonly AuditDraft[]): Promise<WebhookEndpoint | null> {
    return this.tx(() => {
      const row = this.endpointSync(orgId, id);
      if (!row) return null;
      this.sql('DELETE FROM webhook_endpoints WHERE id = ?').run(id);
      this.sql('DELETE FROM webhook_deliveries WHERE endpoint_id = ?').run(id);
      this.addDrafts(events);
      return row;
    });
  }

  async insertDeliveries(deliveries: readonly WebhookDelivery[]): Promise<number> {
    if (deliveries.length === 0) return 0;
    return this.tx(() => {
      const insert = this.sql(
        `INSERT OR IGNORE INTO webhook_deliveries (id, org_id, endpoint_id, event_seq, status, next_attempt_at, version, doc)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      let inserted = 0;
      for (const d of deliveries) {
        inserted += insert.run(
          d.id,
          d.org_id,
          d.endpoint_id,
          d.event_seq,
          d.status,
          d.next_attempt_at,
          d.version,
          JSON.stringify(d),
        ).changes;
      }
      return inserted;
    });
  }

  async getDelivery(orgId: string, id: string): Promise<WebhookDelivery | null> {
    return this.read(() =>
      this.doc<WebhookDelivery>(
        this.sql('SELECT doc FROM webhook_deliveries WHERE id = ? AND org_id = ?').get(id, orgId),
      ),
    );
  }

  async listDeliveries(orgId: string, endpointId: string, query: ListQuery): Promise<Page<WebhookDelivery>> {
    return this.read(() => {
      let before = Number.MAX_SAFE_INTEGER;
      if (query.cursor !== undefined) {
        if (!/^[0-9]{1,15}$/.test(query.cursor)) return { items: [], next_cursor: null };
        before = Number(query.cursor);
      }
      const where = ['org_id = ?', 'endpoint_id = ?', 'event_seq < ?'];
      const args: unknown[] = [orgId, endpointId, before];
      if (query.status !== undefined) {
        where.push('status = ?');
        args.push(query.status);
      }
      const rows = this.docs<WebhookDelivery>(
        this.sql(`SELECT doc FROM webhook_deliveries WHERE ${where.join(' AND ')} ORDER BY event_seq DESC LIMIT ?`).all(
          ...args,
          query.limit + 1,
        ),
      );
      const items = rows.slice(0, query.limit);
      const last = items[items.length - 1];
      return { items, next_cursor: rows.length > query.limit && last ? String(last.event_seq) : null };
    });
  }

  async listDueDeliveries(nowIso: string, limit: number): Promise<WebhookDelivery[]> {
    return this.read(() =>
      this.docs<WebhookDelivery>(
        this.sql(
          `SELECT doc FROM webhook_deliveries WHERE status IN ('pending', 'delivering') AND next_attempt_at IS NOT NULL
             AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
        ).all(nowIso, limit),
      ),
    );
  }

  async nextDeliveryDueAt(): Promise<string | null> {
    return this.read(() => {
      const row = this.sql(
        `SELECT next_attempt_at FROM webhook_deliveries WHERE status IN ('pending', 'delivering')
           AND next_attempt_at IS NOT NULL ORDER BY next_attempt_at LIMIT 1`,
      ).get() as { next_attempt_at: string } | undefined;
      return row?.next_attempt_at ?? null;
    });
  }

  async updateDelivery(
    id: string,
    expectVersion: number,
    patch: Partial<WebhookDelivery>,
  ): Promise<WebhookDelivery | null> {
    return this.tx(() => {
      const row = this.doc<WebhookDelivery>(this.sql('SELECT doc FROM webhook_deliveries WHERE id = ?').get(id));
      if (!row) return null;
      if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
      const next: WebhookDelivery = {
        ...row,
        ...patch,
        id: row.id,
        org_id: row.org_id,
        endpoint_id: row.endpoint_id,
        event_id: row.event_id,
        version: row.version + 1,
      };
      this.sql('UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, version = ?, doc = ? WHERE id = ?').run(
        next.status,
        next.next_attempt_at,
        next.version,
        JSON.stringify(next),
        id,
      );
      return next;
    });
  }
}
