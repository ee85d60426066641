import type { AuditDraft } from '../../src/audit/types.js';
import type { EntityStorage, ListQuery, Page } from '../../src/storage/index.js';
import { RELEASED_CONSUMPTION, StorageError } from '../../src/storage/index.js';
import type { Agent, CredentialBinding, Intent, Org, Processor, SpendingAuthority } from '../../src/types.js';
import type { MemoryAuditOutbox } from './memory-audit-outbox.js';
import { snapshot, Table } from './memory-table.js';

/**
 * {@link EntityStorage} in memory: orgs, processors and the tenant-owned entities. A write and its drafts
 * (added to the backend's shared {@link MemoryAuditOutbox}) happen in one synchronous step.
 */
export class MemoryEntityStorage implements EntityStorage {
  private readonly orgs = new Map<string, Org>();
  private readonly processors = new Map<string, Processor>();
  private readonly agents: Table<Agent>;
  private readonly authorities: Table<SpendingAuthority>;
  private readonly bindings: Table<CredentialBinding>;
  private readonly bindingRefs = new Map<string, string>();
  private readonly intents: Table<Intent>;

  constructor(private readonly outbox: MemoryAuditOutbox) {
    this.agents = new Table<Agent>(outbox);
    this.authorities = new Table<SpendingAuthority>(outbox);
    this.bindings = new Table<CredentialBinding>(outbox);
    this.intents = new Table<Intent>(outbox);
  }

  async insertOrg(org: Org, events?: readonly AuditDraft[]): Promise<void> {
    if (this.orgs.has(org.id)) throw new StorageError('conflict', `duplicate org ${org.id}`);
    this.orgs.set(org.id, snapshot(org));
    this.outbox.add(events);
  }
  async getOrg(id: string): Promise<Org | null> {
    return this.orgs.get(id) ?? null;
  }
  async insertProcessor(processor: Processor): Promise<void> {
    if (this.processors.has(processor.id)) throw new StorageError('conflict', `duplicate processor ${processor.id}`);
    this.processors.set(processor.id, snapshot(processor));
  }
  async getProcessor(id: string): Promise<Processor | null> {
    return this.processors.get(id) ?? null;
  }

  async insertAgent(agent: Agent, events?: readonly AuditDraft[]): Promise<void> {
    this.agents.insert(agent, events);
  }
  async getAgent(orgId: string, id: string): Promise<Agent | null> {
    return this.agents.get(orgId, id);
  }
  async listAgents(orgId: string, query: ListQuery): Promise<Page<Agent>> {
    return this.agents.list(orgId, query);
  }
  async updateAgent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Agent>,
    events?: readonly AuditDraft[],
  ): Promise<Agent | null> {
    return this.agents.update(orgId, id, expectVersion, patch, events);
  }

  async insertAuthority(authority: SpendingAuthority, events?: readonly AuditDraft[]): Promise<void> {
    this.authorities.insert(authority, events);
  }
  async getAuthority(orgId: string, id: string): Promise<SpendingAuthority | null> {
    return this.authorities.get(orgId, id);
  }
  async listAuthorities(orgId: string, query: ListQuery): Promise<Page<SpendingAuthority>> {
    return this.authorities.list(orgId, query);
  }
  async updateAuthority(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<SpendingAuthority>,
    events?: readonly AuditDraft[],
  ): Promise<SpendingAuthority | null> {
    return this.authorities.update(orgId, id, expectVersion, patch, events);
  }

  private refKey(processorId: string, reference: string): string {
    return `${processorId}\u0000${reference}`;
  }

  async insertBinding(binding: CredentialBinding, events?: readonly AuditDraft[]): Promise<void> {
    const key = this.refKey(binding.processor_id, binding.credential.reference);
    if (binding.status !== 'revoked' && this.bindingRefs.has(key)) {
      throw new StorageError('conflict', 'credential reference already bound for this processor');
    }
    this.bindings.insert(binding, events);
    if (binding.status !== 'revoked') this.bindingRefs.set(key, binding.id);
  }
  async getBinding(orgId: string, id: string): Promise<CredentialBinding | null> {
    return this.bindings.get(orgId, id);
  }
  async findBinding(
    processorId: string,
    key: { id: string } | { reference: string },
  ): Promise<CredentialBinding | null> {
    if ('id' in key) return this.bindings.byId.get(key.id) ?? null;
    const id = this.bindingRefs.get(this.refKey(processorId, key.reference));
    return id ? (this.bindings.byId.get(id) ?? null) : null;
  }
  async listBindings(orgId: string, query: ListQuery): Promise<Page<CredentialBinding>> {
    return this.bindings.list(orgId, query);
  }
  async updateBinding(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<CredentialBinding>,
    events?: readonly AuditDraft[],
  ): Promise<CredentialBinding | null> {
    const before = this.bindings.get(orgId, id);
    const next = this.bindings.update(orgId, id, expectVersion, patch, events);
    if (before && next && next.status === 'revoked' && before.status !== 'revoked') {
      this.bindingRefs.delete(this.refKey(before.processor_id, before.credential.reference));
    }
    return next;
  }

  async insertIntent(intent: Intent, events?: readonly AuditDraft[]): Promise<void> {
    this.intents.insert(intent, events);
  }
  async getIntent(orgId: string, id: string): Promise<Intent | null> {
    return this.intents.get(orgId, id);
  }
  async listIntents(orgId: string, query: ListQuery): Promise<Page<Intent>> {
    return this.intents.list(orgId, query);
  }
  async updateIntent(
    orgId: string,
    id: string,
    expectVersion: number,
    patch: Partial<Intent>,
    events?: readonly AuditDraft[],
  ): Promise<Intent | null> {
    return this.intents.update(orgId, id, expectVersion, patch, events);
  }
  async consumeIntent(
    orgId: string,
    id: string,
    consumptionId: string,
    amount: number,
  ): Promise<'consumed' | 'already_applied' | 'rejected' | 'not_found'> {
    const intent = this.intents.get(orgId, id);
    if (!intent) return 'not_found';
    if (consumptionId in intent.consumptions) return 'already_applied';
    if (intent.status !== 'approved' || intent.consumed_amount + amount > intent.max_amount) return 'rejected';
    this.intents.update(orgId, id, intent.version, {
      consumed_amount: intent.consumed_amount + amount,
      consumptions: { ...intent.consumptions, [consumptionId]: amount },
      status: intent.single_use ? 'consumed' : 'approved',
    });
    return 'consumed';
  }
  async releaseIntent(
    orgId: string,
    id: string,
    consumptionId: string,
    keep?: number,
  ): Promise<'released' | 'not_held'> {
    const intent = this.intents.get(orgId, id);
    if (!intent) return 'not_held';
    const amount = intent.consumptions[consumptionId];
    if (amount === undefined || amount === RELEASED_CONSUMPTION) {
      // Never applied: remember it as released, so that a late consume of this id cannot apply it.
      if (amount === undefined && keep === undefined) {
        this.intents.update(orgId, id, intent.version, {
          consumptions: { ...intent.consumptions, [consumptionId]: RELEASED_CONSUMPTION },
        });
      }
      return 'not_held';
    }
    if (keep !== undefined) {
      const kept = Math.min(keep, amount);
      if (kept === amount) return 'released';
      this.intents.update(orgId, id, intent.version, {
        consumed_amount: intent.consumed_amount - (amount - kept),
        consumptions: { ...intent.consumptions, [consumptionId]: kept },
      });
      return 'released';
    }
    this.intents.update(orgId, id, intent.version, {
      consumed_amount: intent.consumed_amount - amount,
      consumptions: { ...intent.consumptions, [consumptionId]: RELEASED_CONSUMPTION },
      status: intent.status === 'consumed' ? 'approved' : intent.status,
    });
    return 'released';
  }

  /** Test hook: a stored entity by kind and id, whatever its org (a frozen snapshot), or null. */
  inspectEntity(
    kind: 'org' | 'processor' | 'agent' | 'authority' | 'binding' | 'intent',
    id: string,
  ): Org | Processor | Agent | SpendingAuthority | CredentialBinding | Intent | null {
    const tables = {
      org: this.orgs,
      processor: this.processors,
      agent: this.agents.byId,
      authority: this.authorities.byId,
      binding: this.bindings.byId,
      intent: this.intents.byId,
    } as const;
    return tables[kind].get(id) ?? null;
  }
}
