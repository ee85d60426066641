import type { AuditDraft } from '../../src/audit/types.js';
import type { ListQuery, Page, WebhookDelivery, WebhookEndpoint, WebhookStorage } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { deepFreeze } from './freeze.js';
import { MemoryAuditOutbox } from './memory-audit-outbox.js';

function stored<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

function isOpen(d: WebhookDelivery): boolean {
  return d.status === 'pending' || d.status === 'delivering';
}

/** Options of {@link MemoryWebhookStorage}. */
export interface MemoryWebhookStorageOptions {
  /**
   * Where audit drafts of endpoint writes go: the `auditOutbox` of the MemoryAdapter of the same server, so
   * its `listAuditOutbox` returns them. Default: an outbox of its own that no adapter lists (use
   * `createMemoryStores` to get the stores wired together).
   */
  outbox?: MemoryAuditOutbox;
}

/**
 * In-memory {@link WebhookStorage}: the default next to MemoryAdapter. Stored objects are frozen; data is
 * lost on exit and not shared between processes. Every method completes in one step, so each is atomic;
 * a write's audit drafts go into the outbox given in the options in the same step (none when it fails).
 */
export class MemoryWebhookStorage implements WebhookStorage {
  private readonly endpoints = new Map<string, WebhookEndpoint>();
  private readonly deliveries = new Map<string, WebhookDelivery>();
  /** Where the drafts of this storage's writes go (see {@link MemoryWebhookStorageOptions.outbox}). */
  readonly auditOutbox: MemoryAuditOutbox;

  constructor(options: MemoryWebhookStorageOptions = {}) {
    this.auditOutbox = options.outbox ?? new MemoryAuditOutbox();
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async insertEndpoint(endpoint: WebhookEndpoint, events?: readonly AuditDraft[]): Promise<void> {
    if (this.endpoints.has(endpoint.id)) throw new StorageError('conflict', `duplicate webhook id ${endpoint.id}`);
    this.endpoints.set(endpoint.id, stored(endpoint));
    this.auditOutbox.add(events);
  }

  private endpointOf(orgId: string, id: string): WebhookEndpoint | null {
    const row = this.endpoints.get(id);
    return row && row.org_id === orgId ? row : null;
  }

  async getEndpoint(orgId: string, id: string): Promise<WebhookEndpoint | null> {
    return this.endpointOf(orgId, id);
  }

  async listEndpoints(orgId: string, query: ListQuery): Promise<Page<WebhookEndpoint>> {
    const matches = [...this.endpoints.values()]
      .filter(
        (e) =>
          e.org_id === orgId &&
          (query.status === undefined || e.status === query.status) &&
          (query.cursor === undefined || e.id < query.cursor),
      )
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const items = matches.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, next_cursor: matches.length > query.limit && last ? last.id : null };
  }

  async listActiveEndpoints(afterId: string | null, limit: number): Promise<WebhookEndpoint[]> {
    return [...this.endpoints.values()]
      .filter((e) => e.status === 'active' && (afterId === null || e.id > afterId))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, limit);
  }

  async updateEndpoint(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<WebhookEndpoint>,
    events?: readonly AuditDraft[],
  ): Promise<WebhookEndpoint | null> {
    const row = this.endpointOf(orgId, id);
    if (!row) return null;
    if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
    const next = this.putEndpoint(row, patch);
    this.auditOutbox.add(events);
    return next;
  }

  private putEndpoint(row: WebhookEndpoint, patch: Partial<WebhookEndpoint>): WebhookEndpoint {
    const next = stored({ ...row, ...patch, id: row.id, org_id: row.org_id, version: row.version + 1 });
    this.endpoints.set(row.id, next);
    return next;
  }

  async advanceEndpointCursor(orgId: string, id: string, fromSeq: number, toSeq: number): Promise<boolean> {
    const row = this.endpointOf(orgId, id);
    if (!row || row.cursor_seq !== fromSeq) return false;
    this.putEndpoint(row, { cursor_seq: toSeq });
    return true;
  }

  async recordEndpointOutcome(
    orgId: string,
    id: string,
    outcome: 'delivered' | 'failed',
    at: string,
  ): Promise<WebhookEndpoint | null> {
    const row = this.endpointOf(orgId, id);
    if (!row) return null;
    const failures = outcome === 'delivered' ? 0 : row.consecutive_failures + 1;
    return this.putEndpoint(row, { consecutive_failures: failures, updated_at: at });
  }

  async deleteEndpoint(orgId: string, id: string, events?: readonly AuditDraft[]): Promise<WebhookEndpoint | null> {
    const row = this.endpointOf(orgId, id);
    if (!row) return null;
    this.endpoints.delete(id);
    for (const [key, d] of this.deliveries) if (d.endpoint_id === id) this.deliveries.delete(key);
    this.auditOutbox.add(events);
    return row;
  }

  async insertDeliveries(deliveries: readonly WebhookDelivery[]): Promise<number> {
    let inserted = 0;
    for (const d of deliveries) {
      if (this.deliveries.has(d.id)) continue;
      this.deliveries.set(d.id, stored(d));
      inserted++;
    }
    return inserted;
  }

  async getDelivery(orgId: string, id: string): Promise<WebhookDelivery | null> {
    const row = this.deliveries.get(id);
    return row && row.org_id === orgId ? row : null;
  }

  async listDeliveries(orgId: string, endpointId: string, query: ListQuery): Promise<Page<WebhookDelivery>> {
    let before = Number.POSITIVE_INFINITY;
    if (query.cursor !== undefined) {
      if (!/^[0-9]{1,15}$/.test(query.cursor)) return { items: [], next_cursor: null };
      before = Number(query.cursor);
    }
    const matches = [...this.deliveries.values()]
      .filter(
        (d) =>
          d.org_id === orgId &&
          d.endpoint_id === endpointId &&
          d.event_seq < before &&
          (query.status === undefined || d.status === query.status),
      )
      .sort((a, b) => b.event_seq - a.event_seq);
    const items = matches.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, next_cursor: matches.length > query.limit && last ? String(last.event_seq) : null };
  }

  async listDueDeliveries(nowIso: string, limit: number): Promise<WebhookDelivery[]> {
    return [...this.deliveries.values()]
      .filter((d) => isOpen(d) && d.next_attempt_at !== null && d.next_attempt_at <= nowIso)
      .sort((a, b) => ((a.next_attempt_at as string) < (b.next_attempt_at as string) ? -1 : 1))
      .slice(0, limit);
  }

  async nextDeliveryDueAt(): Promise<string | null> {
    let next: string | null = null;
    for (const d of this.deliveries.values()) {
      if (isOpen(d) && d.next_attempt_at !== null && (next === null || d.next_attempt_at < next)) {
        next = d.next_attempt_at;
      }
    }
    return next;
  }

  async updateDelivery(
    id: string,
    expectVersion: number,
    patch: Partial<WebhookDelivery>,
  ): Promise<WebhookDelivery | null> {
    const row = this.deliveries.get(id);
    if (!row) return null;
    if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
    const next = stored({
      ...row,
      ...patch,
      id: row.id,
      org_id: row.org_id,
      endpoint_id: row.endpoint_id,
      event_id: row.event_id,
      version: row.version + 1,
    });
    this.deliveries.set(id, next);
    return next;
  }
}
