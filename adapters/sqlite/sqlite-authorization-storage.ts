import type { AuditDraft } from '../../src/audit/types.js';
import type {
  AuthorizationExpectation,
  AuthorizationStorage,
  ClaimResult,
  ListQuery,
  Page,
} from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/index.js';
import type { AuthorizationRecord } from '../../src/types.js';
import { SqliteStore } from './sqlite-store.js';

/** Newest-first order of authorization lists: creation time, authorization id, processor id (the cursor). */
function authorizationOrderKey(r: AuthorizationRecord): string {
  return `${r.created_at}\u0000${r.authorization_id}\u0000${r.processor_id}`;
}

/**
 * {@link AuthorizationStorage} on SQLite: the claim is an insert into `authorizations`, updates are
 * conditional on the version in one transaction with the write's audit drafts (`addDrafts`).
 */
export class SqliteAuthorizationStorage extends SqliteStore implements AuthorizationStorage {
  // --- authorizations

  private getAuthorizationSync(processorId: string, authorizationId: string): AuthorizationRecord | null {
    return this.doc<AuthorizationRecord>(
      this.sql('SELECT doc FROM authorizations WHERE processor_id = ? AND authorization_id = ?').get(
        processorId,
        authorizationId,
      ),
    );
  }

  async claimAuthorization(record: AuthorizationRecord, events?: readonly AuditDraft[]): Promise<ClaimResult> {
    return this.tx((): ClaimResult => {
      const existing = this.getAuthorizationSync(record.processor_id, record.authorization_id);
      if (existing) return { created: false, existing };
      this.sql(
        `INSERT INTO authorizations (processor_id, authorization_id, org_id, agent_id, status, order_key, hold_open,
           hold_expires_at, version, doc, approval_id, approval_status, approval_expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        record.processor_id,
        record.authorization_id,
        record.org_id,
        record.agent_id,
        record.status,
        authorizationOrderKey(record),
        record.hold_open ? 1 : 0,
        record.hold_expires_at,
        record.version,
        JSON.stringify(record),
        record.approval?.id ?? null,
        record.approval?.status ?? null,
        record.approval?.expires_at ?? null,
      );
      this.addDrafts(events);
      return { created: true };
    });
  }
  async getAuthorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null> {
    return this.read(() => this.getAuthorizationSync(processorId, authorizationId));
  }
  async updateAuthorization(
    processorId: string,
    authorizationId: string,
    expect: AuthorizationExpectation,
    patch: Partial<AuthorizationRecord>,
    events?: readonly AuditDraft[],
  ): Promise<AuthorizationRecord | null> {
    return this.tx(() => {
      const row = this.getAuthorizationSync(processorId, authorizationId);
      if (!row) return null;
      if (row.version !== expect.version) throw new StorageError('conflict', `version of ${authorizationId} moved`);
      const next: AuthorizationRecord = {
        ...row,
        ...patch,
        processor_id: row.processor_id,
        authorization_id: row.authorization_id,
        version: row.version + 1,
      };
      this.sql(
        `UPDATE authorizations SET org_id = ?, agent_id = ?, status = ?, order_key = ?, hold_open = ?,
           hold_expires_at = ?, version = ?, doc = ?, approval_id = ?, approval_status = ?, approval_expires_at = ?
           WHERE processor_id = ? AND authorization_id = ?`,
      ).run(
        next.org_id,
        next.agent_id,
        next.status,
        authorizationOrderKey(next),
        next.hold_open ? 1 : 0,
        next.hold_expires_at,
        next.version,
        JSON.stringify(next),
        next.approval?.id ?? null,
        next.approval?.status ?? null,
        next.approval?.expires_at ?? null,
        processorId,
        authorizationId,
      );
      this.addDrafts(events);
      return next;
    });
  }

  /** One page of authorizations newest first, under `where`, filtered by the query's status, agent and cursor. */
  private pageOf(
    where: string[],
    args: unknown[],
    statusColumn: 'status' | 'approval_status',
    query: ListQuery,
  ): Page<AuthorizationRecord> {
    if (query.status !== undefined) {
      where.push(`${statusColumn} = ?`);
      args.push(query.status);
    }
    if (query.agent_id !== undefined) {
      where.push('agent_id = ?');
      args.push(query.agent_id);
    }
    if (query.cursor !== undefined) {
      where.push('order_key < ?');
      args.push(query.cursor);
    }
    const rows = this.sql(
      `SELECT order_key, doc FROM authorizations WHERE ${where.join(' AND ')} ORDER BY order_key DESC LIMIT ?`,
    ).all(...args, query.limit + 1) as { order_key: string; doc: string }[];
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => JSON.parse(r.doc) as AuthorizationRecord),
      next_cursor: rows.length > query.limit && last ? last.order_key : null,
    };
  }

  private listAuthorizationsBy(
    column: 'org_id' | 'processor_id',
    value: string,
    query: ListQuery,
  ): Promise<Page<AuthorizationRecord>> {
    return this.read(() => this.pageOf([`${column} = ?`], [value], 'status', query));
  }
  async listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('org_id', orgId, query);
  }
  async listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('processor_id', processorId, query);
  }
  async findOrgAuthorizations(orgId: string, authorizationId: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.read(() =>
      (
        this.sql(
          'SELECT doc FROM authorizations WHERE authorization_id = ? AND org_id = ? ORDER BY processor_id LIMIT ?',
        ).all(authorizationId, orgId, limit) as { doc: string }[]
      ).map((r) => JSON.parse(r.doc) as AuthorizationRecord),
    );
  }
  async findApproval(approvalId: string): Promise<AuthorizationRecord | null> {
    return this.read(() =>
      this.doc<AuthorizationRecord>(this.sql('SELECT doc FROM authorizations WHERE approval_id = ?').get(approvalId)),
    );
  }
  async listApprovals(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.read(() => this.pageOf(['org_id = ?', 'approval_id IS NOT NULL'], [orgId], 'approval_status', query));
  }
  async listDueApprovals(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.read(() =>
      (
        this.sql(
          `SELECT doc FROM authorizations WHERE approval_status IN ('pending', 'approved')
             AND approval_expires_at <= ? ORDER BY approval_expires_at ASC LIMIT ?`,
        ).all(before, limit) as { doc: string }[]
      ).map((r) => JSON.parse(r.doc) as AuthorizationRecord),
    );
  }
  async listOpenHolds(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return this.read(() =>
      (
        this.sql(
          `SELECT doc FROM authorizations WHERE hold_open = 1 AND (
             (status = 'approved' AND hold_expires_at IS NOT NULL AND hold_expires_at <= ?)
             OR status NOT IN ('approved', 'pending'))
           ORDER BY coalesce(hold_expires_at, '') ASC LIMIT ?`,
        ).all(before, limit) as { doc: string }[]
      ).map((r) => JSON.parse(r.doc) as AuthorizationRecord),
    );
  }
}
