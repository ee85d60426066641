import type { AuditDraft } from '../../src/audit/types.js';
import type { ListQuery, Page } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import { deepFreeze } from './freeze.js';
import type { MemoryAuditOutbox } from './memory-audit-outbox.js';

/**
 * Takes ownership of a written value: it is frozen in place rather than copied, so neither the caller
 * nor a reader can change what is stored, and no write pays for a deep copy on the hot path.
 */
export function snapshot<T>(value: T): T {
  return deepFreeze(value);
}

/** Rows of one entity kind, indexed by id and by org; a successful write adds its drafts to `outbox`. */
export class Table<T extends { id: string; org_id: string; version: number }> {
  readonly byId = new Map<string, T>();

  constructor(private readonly outbox: MemoryAuditOutbox) {}

  insert(row: T, events?: readonly AuditDraft[]): void {
    if (this.byId.has(row.id)) throw new StorageError('conflict', `duplicate id ${row.id}`);
    this.byId.set(row.id, snapshot(row));
    this.outbox.add(events);
  }

  get(orgId: string, id: string): T | null {
    const row = this.byId.get(id);
    return row && row.org_id === orgId ? row : null;
  }

  update(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<T>,
    events?: readonly AuditDraft[],
  ): T | null {
    const row = this.get(orgId, id);
    if (!row) return null;
    if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
    const next = snapshot({ ...row, ...patch, id: row.id, org_id: row.org_id, version: row.version + 1 });
    this.byId.set(id, next);
    this.outbox.add(events);
    return next;
  }

  list(orgId: string, query: ListQuery, idOf: (row: T) => string = (r) => r.id): Page<T> {
    return paginate(
      [...this.byId.values()].filter((r) => r.org_id === orgId),
      query,
      idOf,
    );
  }
}

export function paginate<T extends { org_id: string | null }>(
  rows: T[],
  query: ListQuery,
  idOf: (row: T) => string,
): Page<T> {
  const matches = rows
    .filter((r) => {
      const rec = r as unknown as Record<string, unknown>;
      if (query.status !== undefined && rec.status !== query.status) return false;
      if (query.agent_id !== undefined && rec.agent_id !== query.agent_id) return false;
      if (query.cursor !== undefined && !(idOf(r) < query.cursor)) return false;
      return true;
    })
    .sort((a, b) => (idOf(a) < idOf(b) ? 1 : idOf(a) > idOf(b) ? -1 : 0));
  const items = matches.slice(0, query.limit);
  const last = items[items.length - 1];
  return { items, next_cursor: matches.length > query.limit && last ? idOf(last) : null };
}
