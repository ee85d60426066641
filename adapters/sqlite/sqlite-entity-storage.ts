import type { AuditDraft } from '../../src/audit/types.js';
import type { EntityStorage, ListQuery, Page } from '../../src/storage/index.js';
import { RELEASED_CONSUMPTION, StorageError } from '../../src/storage/index.js';
import type { Agent, CredentialBinding, Intent, Org, Processor, SpendingAuthority } from '../../src/types.js';
import { SqliteStore } from './sqlite-store.js';

type EntityTable = 'agents' | 'authorities' | 'bindings' | 'intents';
type TenantRow = { id: string; org_id: string; version: number; status?: string; agent_id?: string };

/**
 * {@link EntityStorage} on SQLite: orgs, processors and the tenant-owned entities, a table each. Every
 * check-then-write is one `BEGIN IMMEDIATE` transaction, and a write's audit drafts join the outbox table in
 * that same transaction (`addDrafts` of {@link SqliteStore}).
 */
export class SqliteEntityStorage extends SqliteStore implements EntityStorage {
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
}
