import type { AuditDraft, AuditEvent, AuditQuery } from '../../src/audit/types.js';
import type {
  AuthorizationExpectation,
  ClaimResult,
  ListQuery,
  Page,
  ReleaseResult,
  Reservation,
  ReserveResult,
  StorageAdapter,
} from '../../src/storage/index.js';
import { emptyWindow, RELEASED_CONSUMPTION, StorageError, WINDOWS } from '../../src/storage/index.js';
import type {
  Agent,
  AuthorizationRecord,
  CredentialBinding,
  Intent,
  Org,
  Processor,
  SpendingAuthority,
  UsageSnapshot,
  WindowUsage,
} from '../../src/types.js';
import { type OpenDatabaseOptions, openDatabase } from './database.js';
import { SqliteStore } from './sqlite-store.js';

type WindowName = (typeof WINDOWS)[number];
type Windows = Record<WindowName, WindowUsage>;

type EntityTable = 'agents' | 'authorities' | 'bindings' | 'intents';
type TenantRow = { id: string; org_id: string; version: number; status?: string; agent_id?: string };

function emptyWindows(): Windows {
  return { daily: emptyWindow(''), weekly: emptyWindow(''), monthly: emptyWindow(''), total: emptyWindow('') };
}

/** Newest-first order of authorization lists: creation time, authorization id, processor id (the cursor). */
function authorizationOrderKey(r: AuthorizationRecord): string {
  return `${r.created_at}\u0000${r.authorization_id}\u0000${r.processor_id}`;
}

export interface SqliteAdapterOptions extends OpenDatabaseOptions {
  /** The database file (created with its directory when missing), or `:memory:`. */
  path: string;
}

/**
 * The embedded durable adapter: one SQLite file (better-sqlite3, WAL). Every write that checks before it
 * writes runs in one `BEGIN IMMEDIATE` transaction, so it is atomic against other connections, including
 * another server process on the same file (SQLite's file locks); a lock held longer than the busy timeout
 * fails with `unavailable`. Each transaction is short and synchronous; methods return promises as the
 * contract asks. Documents are stored as JSON next to the columns that lists and unique keys need.
 *
 * Audit: a write's drafts go into the `audit_outbox` table in the same transaction as the write.
 */
export class SqliteAdapter extends SqliteStore implements StorageAdapter {
  constructor(options: SqliteAdapterOptions) {
    super(openDatabase(options.path, options));
  }

  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async ping(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // --- orgs and processors

  async insertOrg(org: Org, events?: readonly AuditDraft[]): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO orgs (id, doc) VALUES (?, ?)').run(org.id, JSON.stringify(org));
      this.addDrafts(events);
    });
  }
  async getOrg(id: string): Promise<Org | null> {
    return this.read(() => this.doc<Org>(this.sql('SELECT doc FROM orgs WHERE id = ?').get(id)));
  }
  async insertProcessor(processor: Processor): Promise<void> {
    await this.tx(() => {
      this.sql('INSERT INTO processors (id, doc) VALUES (?, ?)').run(processor.id, JSON.stringify(processor));
    });
  }
  async getProcessor(id: string): Promise<Processor | null> {
    return this.read(() => this.doc<Processor>(this.sql('SELECT doc FROM processors WHERE id = ?').get(id)));
  }

  // --- tenant entities

  private insertEntity(table: EntityTable, row: TenantRow, events?: readonly AuditDraft[]): Promise<void> {
    return this.tx(() => {
      this.writeEntity(table, row, 'insert');
      this.addDrafts(events);
    });
  }

  private writeEntity(table: EntityTable, row: TenantRow, mode: 'insert' | 'update'): void {
    const doc = JSON.stringify(row);
    if (table === 'bindings') {
      const b = row as unknown as CredentialBinding;
      if (mode === 'insert') {
        this.sql(
          'INSERT INTO bindings (id, org_id, status, agent_id, version, processor_id, reference, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        ).run(b.id, b.org_id, b.status, b.agent_id, b.version, b.processor_id, b.credential.reference, doc);
      } else {
        this.sql('UPDATE bindings SET status = ?, agent_id = ?, version = ?, doc = ? WHERE id = ?').run(
          b.status,
          b.agent_id,
          b.version,
          doc,
          b.id,
        );
      }
      return;
    }
    if (mode === 'insert') {
      this.sql(`INSERT INTO ${table} (id, org_id, status, agent_id, version, doc) VALUES (?, ?, ?, ?, ?, ?)`).run(
        row.id,
        row.org_id,
        row.status ?? null,
        row.agent_id ?? null,
        row.version,
        doc,
      );
    } else {
      this.sql(`UPDATE ${table} SET status = ?, agent_id = ?, version = ?, doc = ? WHERE id = ?`).run(
        row.status ?? null,
        row.agent_id ?? null,
        row.version,
        doc,
        row.id,
      );
    }
  }

  private getEntitySync<T>(table: EntityTable, orgId: string, id: string): T | null {
    return this.doc<T>(this.sql(`SELECT doc FROM ${table} WHERE id = ? AND org_id = ?`).get(id, orgId));
  }

  private getEntity<T>(table: EntityTable, orgId: string, id: string): Promise<T | null> {
    return this.read(() => this.getEntitySync<T>(table, orgId, id));
  }

  private updateEntitySync<T extends TenantRow>(
    table: EntityTable,
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<T>,
  ): T | null {
    const row = this.getEntitySync<T>(table, orgId, id);
    if (!row) return null;
    if (row.version !== expectVersion) throw new StorageError('conflict', `version of ${id} moved`);
    const next = { ...row, ...patch, id: row.id, org_id: row.org_id, version: row.version + 1 } as T;
    this.writeEntity(table, next, 'update');
    return next;
  }

  private updateEntity<T extends TenantRow>(
    table: EntityTable,
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<T>,
    events?: readonly AuditDraft[],
  ): Promise<T | null> {
    return this.tx(() => {
      const next = this.updateEntitySync<T>(table, orgId, id, expectVersion, patch);
      if (next) this.addDrafts(events);
      return next;
    });
  }

  private listEntities<T>(table: EntityTable, orgId: string, query: ListQuery): Promise<Page<T>> {
    return this.read(() => {
      const where = ['org_id = ?'];
      const args: unknown[] = [orgId];
      if (query.status !== undefined) {
        where.push('status = ?');
        args.push(query.status);
      }
      if (query.agent_id !== undefined) {
        where.push('agent_id = ?');
        args.push(query.agent_id);
      }
      if (query.cursor !== undefined) {
        where.push('id < ?');
        args.push(query.cursor);
      }
      const rows = this.sql(`SELECT doc FROM ${table} WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`).all(
        ...args,
        query.limit + 1,
      ) as { doc: string }[];
      const items = rows.slice(0, query.limit).map((r) => JSON.parse(r.doc) as T & { id: string });
      const last = items[items.length - 1];
      return { items, next_cursor: rows.length > query.limit && last ? last.id : null };
    });
  }

  async insertAgent(agent: Agent, events?: readonly AuditDraft[]): Promise<void> {
    await this.insertEntity('agents', agent, events);
  }
  async getAgent(orgId: string, id: string): Promise<Agent | null> {
    return this.getEntity<Agent>('agents', orgId, id);
  }
  async listAgents(orgId: string, query: ListQuery): Promise<Page<Agent>> {
    return this.listEntities<Agent>('agents', orgId, query);
  }
  async updateAgent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Agent>,
    events?: readonly AuditDraft[],
  ): Promise<Agent | null> {
    return this.updateEntity<Agent>('agents', orgId, id, expectVersion, patch, events);
  }

  async insertAuthority(authority: SpendingAuthority, events?: readonly AuditDraft[]): Promise<void> {
    await this.insertEntity('authorities', authority, events);
  }
  async getAuthority(orgId: string, id: string): Promise<SpendingAuthority | null> {
    return this.getEntity<SpendingAuthority>('authorities', orgId, id);
  }
  async listAuthorities(orgId: string, query: ListQuery): Promise<Page<SpendingAuthority>> {
    return this.listEntities<SpendingAuthority>('authorities', orgId, query);
  }
  async updateAuthority(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<SpendingAuthority>,
    events?: readonly AuditDraft[],
  ): Promise<SpendingAuthority | null> {
    return this.updateEntity<SpendingAuthority>('authorities', orgId, id, expectVersion, patch, events);
  }

  async insertBinding(binding: CredentialBinding, events?: readonly AuditDraft[]): Promise<void> {
    await this.insertEntity('bindings', binding, events);
  }
  async getBinding(orgId: string, id: string): Promise<CredentialBinding | null> {
    return this.getEntity<CredentialBinding>('bindings', orgId, id);
  }
  async findBinding(
    processorId: string,
    key: { id: string } | { reference: string },
  ): Promise<CredentialBinding | null> {
    return this.read(() =>
      'id' in key
        ? this.doc<CredentialBinding>(this.sql('SELECT doc FROM bindings WHERE id = ?').get(key.id))
        : this.doc<CredentialBinding>(
            this.sql("SELECT doc FROM bindings WHERE processor_id = ? AND reference = ? AND status <> 'revoked'").get(
              processorId,
              key.reference,
            ),
          ),
    );
  }
  async listBindings(orgId: string, query: ListQuery): Promise<Page<CredentialBinding>> {
    return this.listEntities<CredentialBinding>('bindings', orgId, query);
  }
  async updateBinding(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<CredentialBinding>,
    events?: readonly AuditDraft[],
  ): Promise<CredentialBinding | null> {
    return this.updateEntity<CredentialBinding>('bindings', orgId, id, expectVersion, patch, events);
  }

  async insertIntent(intent: Intent, events?: readonly AuditDraft[]): Promise<void> {
    await this.insertEntity('intents', intent, events);
  }
  async getIntent(orgId: string, id: string): Promise<Intent | null> {
    return this.getEntity<Intent>('intents', orgId, id);
  }
  async listIntents(orgId: string, query: ListQuery): Promise<Page<Intent>> {
    return this.listEntities<Intent>('intents', orgId, query);
  }
  async updateIntent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Intent>,
    events?: readonly AuditDraft[],
  ): Promise<Intent | null> {
    return this.updateEntity<Intent>('intents', orgId, id, expectVersion, patch, events);
  }
  async consumeIntent(
    orgId: string,
    id: string,
    consumptionId: string,
    amount: number,
  ): Promise<'consumed' | 'already_applied' | 'rejected' | 'not_found'> {
    return this.tx(() => {
      const intent = this.getEntitySync<Intent>('intents', orgId, id);
      if (!intent) return 'not_found';
      if (consumptionId in intent.consumptions) return 'already_applied';
      if (intent.status !== 'approved' || intent.consumed_amount + amount > intent.max_amount) return 'rejected';
      this.updateEntitySync<Intent>('intents', orgId, id, intent.version, {
        consumed_amount: intent.consumed_amount + amount,
        consumptions: { ...intent.consumptions, [consumptionId]: amount },
        status: intent.single_use ? 'consumed' : 'approved',
      });
      return 'consumed';
    });
  }
  async releaseIntent(
    orgId: string,
    id: string,
    consumptionId: string,
    keep?: number,
  ): Promise<'released' | 'not_held'> {
    return this.tx(() => {
      const intent = this.getEntitySync<Intent>('intents', orgId, id);
      if (!intent) return 'not_held';
      const amount = intent.consumptions[consumptionId];
      if (amount === undefined || amount === RELEASED_CONSUMPTION) {
        // Never applied: remember it as released, so that a late consume of this id cannot apply it.
        if (amount === undefined && keep === undefined) {
          this.updateEntitySync<Intent>('intents', orgId, id, intent.version, {
            consumptions: { ...intent.consumptions, [consumptionId]: RELEASED_CONSUMPTION },
          });
        }
        return 'not_held';
      }
      if (keep !== undefined) {
        const kept = Math.min(keep, amount);
        if (kept === amount) return 'released';
        this.updateEntitySync<Intent>('intents', orgId, id, intent.version, {
          consumed_amount: intent.consumed_amount - (amount - kept),
          consumptions: { ...intent.consumptions, [consumptionId]: kept },
        });
        return 'released';
      }
      this.updateEntitySync<Intent>('intents', orgId, id, intent.version, {
        consumed_amount: intent.consumed_amount - amount,
        consumptions: { ...intent.consumptions, [consumptionId]: RELEASED_CONSUMPTION },
        status: intent.status === 'consumed' ? 'approved' : intent.status,
      });
      return 'released';
    });
  }

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
           hold_expires_at, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
           hold_expires_at = ?, version = ?, doc = ? WHERE processor_id = ? AND authorization_id = ?`,
      ).run(
        next.org_id,
        next.agent_id,
        next.status,
        authorizationOrderKey(next),
        next.hold_open ? 1 : 0,
        next.hold_expires_at,
        next.version,
        JSON.stringify(next),
        processorId,
        authorizationId,
      );
      this.addDrafts(events);
      return next;
    });
  }

  private listAuthorizationsBy(
    column: 'org_id' | 'processor_id',
    value: string,
    query: ListQuery,
  ): Promise<Page<AuthorizationRecord>> {
    return this.read(() => {
      const where = [`${column} = ?`];
      const args: unknown[] = [value];
      if (query.status !== undefined) {
        where.push('status = ?');
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
    });
  }
  async listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('org_id', orgId, query);
  }
  async listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    return this.listAuthorizationsBy('processor_id', processorId, query);
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

  // --- usage

  private windowsSync(orgId: string, authorityId: string): Windows | null {
    const row = this.sql('SELECT windows FROM usage WHERE org_id = ? AND authority_id = ?').get(orgId, authorityId) as
      | { windows: string }
      | undefined;
    return row ? (JSON.parse(row.windows) as Windows) : null;
  }

  private writeWindows(orgId: string, authorityId: string, windows: Windows): void {
    this.sql(
      'INSERT INTO usage (org_id, authority_id, windows) VALUES (?, ?, ?) ON CONFLICT (org_id, authority_id) DO UPDATE SET windows = excluded.windows',
    ).run(orgId, authorityId, JSON.stringify(windows));
  }

  async getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
  ): Promise<UsageSnapshot> {
    return this.read(() => {
      const windows = this.windowsSync(orgId, authorityId);
      const one = (w: WindowName): WindowUsage => {
        const cur = windows?.[w];
        return cur && cur.period === periods[w] ? { ...cur } : emptyWindow(periods[w]);
      };
      return { daily: one('daily'), weekly: one('weekly'), monthly: one('monthly'), total: one('total') };
    });
  }

  async reserveUsage(orgId: string, authorityId: string, reservation: Reservation): Promise<ReserveResult> {
    return this.tx((): ReserveResult => {
      const id = reservation.reservation_id;
      const seen = this.sql(
        'SELECT 1 FROM usage_holds WHERE org_id = ? AND authority_id = ? AND reservation_id = ?',
      ).get(orgId, authorityId, id);
      if (seen) return { status: 'already_applied' };
      const windows = this.windowsSync(orgId, authorityId) ?? emptyWindows();
      const next = {} as Windows;
      for (const w of WINDOWS) {
        const want = reservation.windows[w];
        const cur = windows[w];
        // A stale server clock may ask for an older period: count against the newer one instead.
        const base = cur.period >= want.period ? cur : emptyWindow(want.period);
        const spent = base.spent + reservation.amount;
        const count = base.count + 1;
        if (want.amount_limit !== null && spent > want.amount_limit) {
          return { status: 'limit_exceeded', window: w, kind: 'amount' };
        }
        if (want.count_limit !== null && count > want.count_limit) {
          return { status: 'limit_exceeded', window: w, kind: 'count' };
        }
        next[w] = { period: base.period, spent, count };
      }
      this.writeWindows(orgId, authorityId, next);
      const periods = {
        daily: next.daily.period,
        weekly: next.weekly.period,
        monthly: next.monthly.period,
        total: next.total.period,
      };
      this.sql(
        'INSERT INTO usage_holds (org_id, authority_id, reservation_id, held, amount, periods) VALUES (?, ?, ?, 1, ?, ?)',
      ).run(orgId, authorityId, id, reservation.amount, JSON.stringify(periods));
      return { status: 'reserved' };
    });
  }

  async releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    return this.tx((): ReleaseResult => {
      const hold = this.sql(
        'SELECT held, amount, periods FROM usage_holds WHERE org_id = ? AND authority_id = ? AND reservation_id = ?',
      ).get(orgId, authorityId, reservationId) as { held: number; amount: number; periods: string | null } | undefined;
      if (hold?.held !== 1) {
        // Never held (or already ended): a full release still ends the id, so a late reserve of it
        // (an attempt that lost its claim) is `already_applied` and holds nothing.
        if (!hold && keep === undefined) {
          this.sql(
            'INSERT INTO usage_holds (org_id, authority_id, reservation_id, held, amount, periods) VALUES (?, ?, ?, 0, 0, NULL)',
          ).run(orgId, authorityId, reservationId);
        }
        return { status: 'not_held' };
      }
      const periods = JSON.parse(hold.periods ?? '{}') as Record<WindowName, string>;
      const giveBack = keep === undefined ? hold.amount : Math.max(0, hold.amount - keep);
      const countBack = keep === undefined ? 1 : 0;
      const windows = this.windowsSync(orgId, authorityId) ?? emptyWindows();
      for (const w of WINDOWS) {
        const cur = windows[w];
        if (cur.period !== periods[w]) continue;
        windows[w] = {
          period: cur.period,
          spent: Math.max(0, cur.spent - giveBack),
          count: Math.max(0, cur.count - countBack),
        };
      }
      this.writeWindows(orgId, authorityId, windows);
      this.sql(
        'UPDATE usage_holds SET held = 0, periods = NULL WHERE org_id = ? AND authority_id = ? AND reservation_id = ?',
      ).run(orgId, authorityId, reservationId);
      return { status: 'released', amount: giveBack };
    });
  }

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
