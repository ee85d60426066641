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
import { emptyWindow, RELEASED_CONSUMPTION, StorageError } from '../../src/storage/index.js';
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
import { deepFreeze } from './freeze.js';
import { type AuditEventMutation, MemoryAuditChains } from './memory-audit-chain.js';
import { MemoryAuditOutbox } from './memory-audit-outbox.js';

const WINDOW_NAMES = ['daily', 'weekly', 'monthly', 'total'] as const;
type WindowName = (typeof WINDOW_NAMES)[number];

interface Hold {
  amount: number;
  periods: Record<WindowName, string>;
}

interface UsageState {
  windows: Record<WindowName, WindowUsage>;
  holds: Map<string, Hold>;
  /** Reservation ids that were held once and are now settled or released. */
  ended: Set<string>;
}

/**
 * Takes ownership of a written value: it is frozen in place rather than copied, so neither the caller
 * nor a reader can change what is stored, and no write pays for a deep copy on the hot path.
 */
function snapshot<T>(value: T): T {
  return deepFreeze(value);
}

/** Rows of one entity kind, indexed by id and by org; a successful write adds its drafts to `outbox`. */
class Table<T extends { id: string; org_id: string; version: number }> {
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

function paginate<T extends { org_id: string | null }>(rows: T[], query: ListQuery, idOf: (row: T) => string): Page<T> {
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

/**
 * The newest-first order (and cursor) of authorization lists: creation time, then the authorization id, then
 * the processor id, which breaks ties as one authorization id may be used by several processors at once.
 */
function authorizationOrderKey(r: AuthorizationRecord): string {
  return `${r.created_at}\u0000${r.authorization_id}\u0000${r.processor_id}`;
}

/**
 * The embedded in-memory adapter: the default for development and tests. Every operation runs
 * without awaiting in between, so each one is atomic within the process. Written objects are frozen
 * (the adapter owns them from then on) and reads return those frozen objects. Data is lost on exit
 * and not shared between processes: never use it for more than one server.
 *
 * Audit: a write's drafts go into {@link MemoryAdapter.auditOutbox} in the same step as the write (none
 * when it fails); a MemoryCredentialStorage shares that outbox when built with it (`createMemoryStores`).
 * Each org's chain is an array indexed by `seq`, so seq-range reads are slices.
 */
/** Options of {@link MemoryAdapter}: how much history it keeps. */
export interface MemoryAdapterOptions {
  /**
   * Authorization records kept; beyond it the oldest that hold nothing are dropped (a dropped id is
   * decided anew when it comes again). Default: all (`allowance serve` bounds it by ALLOWANCE_MEMORY_HISTORY).
   */
  maxAuthorizations?: number;
  /** Linked audit events kept per org; beyond it the oldest are dropped (the chain no longer verifies). Default: all. */
  maxAuditEvents?: number;
  /** Called each time history is dropped, with the totals dropped so far (log a warning). */
  onDrop?: (drop: { kind: 'authorizations' | 'audit_events'; dropped: number; total_dropped: number }) => void;
}

export class MemoryAdapter implements StorageAdapter {
  /**
   * The audit outbox of this store. Pass it to `new MemoryCredentialStorage({ outbox })` (or use
   * `createMemoryStores`) so credential drafts are listed by {@link MemoryAdapter.listAuditOutbox} too.
   */
  readonly auditOutbox = new MemoryAuditOutbox();
  private readonly auditChains: MemoryAuditChains;
  private readonly maxAuthorizations: number;
  private readonly onDrop: MemoryAdapterOptions['onDrop'];
  private droppedAuthorizations = 0;
  private droppedAuditEvents = 0;
  private readonly orgs = new Map<string, Org>();
  private readonly processors = new Map<string, Processor>();
  private readonly agents = new Table<Agent>(this.auditOutbox);
  private readonly authorities = new Table<SpendingAuthority>(this.auditOutbox);
  private readonly bindings = new Table<CredentialBinding>(this.auditOutbox);
  private readonly bindingRefs = new Map<string, string>();
  private readonly intents = new Table<Intent>(this.auditOutbox);
  private readonly authorizations = new Map<string, AuthorizationRecord>();
  private readonly usage = new Map<string, UsageState>();
  /** Per org: authorization keys sorted by their list order, rebuilt when an authorization was added. */
  private readonly authorizationOrder = new Map<string, { size: number; keys: [string, string][] }>();

  constructor(options: MemoryAdapterOptions = {}) {
    this.maxAuthorizations = options.maxAuthorizations ?? Number.POSITIVE_INFINITY;
    this.onDrop = options.onDrop;
    this.auditChains = new MemoryAuditChains(options.maxAuditEvents);
  }

  async init(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}

  /** Drops the oldest authorizations that hold nothing while more than the bound are kept. */
  private boundAuthorizations(): void {
    let excess = this.authorizations.size - this.maxAuthorizations;
    if (excess <= 0) return;
    let dropped = 0;
    for (const [key, r] of this.authorizations) {
      if (excess <= 0) break;
      if (r.hold_open || r.status === 'pending') continue;
      this.authorizations.delete(key);
      excess--;
      dropped++;
    }
    if (dropped === 0) return;
    this.authorizationOrder.clear();
    this.droppedAuthorizations += dropped;
    this.onDrop?.({ kind: 'authorizations', dropped, total_dropped: this.droppedAuthorizations });
  }

  async insertOrg(org: Org, events?: readonly AuditDraft[]): Promise<void> {
    if (this.orgs.has(org.id)) throw new StorageError('conflict', `duplicate org ${org.id}`);
    this.orgs.set(org.id, snapshot(org));
    this.auditOutbox.add(events);
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

  private authKey(processorId: string, authorizationId: string): string {
    return `${processorId}\u0000${authorizationId}`;
  }

  async claimAuthorization(record: AuthorizationRecord, events?: readonly AuditDraft[]): Promise<ClaimResult> {
    const key = this.authKey(record.processor_id, record.authorization_id);
    const existing = this.authorizations.get(key);
    if (existing) return { created: false, existing };
    this.authorizations.set(key, snapshot(record));
    this.auditOutbox.add(events);
    this.boundAuthorizations();
    return { created: true };
  }
  async getAuthorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null> {
    return this.authorizations.get(this.authKey(processorId, authorizationId)) ?? null;
  }
  async updateAuthorization(
    processorId: string,
    authorizationId: string,
    expect: AuthorizationExpectation,
    patch: Partial<AuthorizationRecord>,
    events?: readonly AuditDraft[],
  ): Promise<AuthorizationRecord | null> {
    const key = this.authKey(processorId, authorizationId);
    const row = this.authorizations.get(key);
    if (!row) return null;
    if (row.version !== expect.version) throw new StorageError('conflict', `version of ${authorizationId} moved`);
    const next = snapshot({
      ...row,
      ...patch,
      processor_id: row.processor_id,
      authorization_id: row.authorization_id,
      version: row.version + 1,
    });
    this.authorizations.set(key, next);
    this.auditOutbox.add(events);
    return next;
  }
  async listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    const rows = [...this.authorizations.values()].filter((r) => r.org_id === orgId);
    return paginate(rows, query, authorizationOrderKey);
  }
  async listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    const rows = [...this.authorizations.values()].filter((r) => r.processor_id === processorId);
    return paginate(rows, query, authorizationOrderKey);
  }
  async listOpenHolds(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return [...this.authorizations.values()]
      .filter(
        (r) =>
          r.hold_open &&
          ((r.status === 'approved' && r.hold_expires_at !== null && r.hold_expires_at <= before) ||
            (r.status !== 'approved' && r.status !== 'pending')),
      )
      .sort((a, b) => ((a.hold_expires_at ?? '') < (b.hold_expires_at ?? '') ? -1 : 1))
      .slice(0, limit);
  }

  private usageState(orgId: string, authorityId: string, create: boolean): UsageState | undefined {
    const key = `${orgId}\u0000${authorityId}`;
    let state = this.usage.get(key);
    if (!state && create) {
      state = {
        windows: { daily: emptyWindow(''), weekly: emptyWindow(''), monthly: emptyWindow(''), total: emptyWindow('') },
        holds: new Map(),
        ended: new Set(),
      };
      this.usage.set(key, state);
    }
    return state;
  }

  async getUsage(
    orgId: string,
    authorityId: string,
    periods: { daily: string; weekly: string; monthly: string; total: string },
  ): Promise<UsageSnapshot> {
    const state = this.usageState(orgId, authorityId, false);
    const read = (w: WindowName): WindowUsage => {
      const cur = state?.windows[w];
      return cur && cur.period === periods[w] ? { ...cur } : emptyWindow(periods[w]);
    };
    return { daily: read('daily'), weekly: read('weekly'), monthly: read('monthly'), total: read('total') };
  }

  async reserveUsage(orgId: string, authorityId: string, reservation: Reservation): Promise<ReserveResult> {
    const state = this.usageState(orgId, authorityId, true) as UsageState;
    const id = reservation.reservation_id;
    if (state.holds.has(id) || state.ended.has(id)) return { status: 'already_applied' };
    const next = {} as Record<WindowName, WindowUsage>;
    for (const w of WINDOW_NAMES) {
      const want = reservation.windows[w];
      const cur = state.windows[w];
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
    state.windows = next;
    state.holds.set(id, {
      amount: reservation.amount,
      periods: {
        daily: next.daily.period,
        weekly: next.weekly.period,
        monthly: next.monthly.period,
        total: next.total.period,
      },
    });
    return { status: 'reserved' };
  }

  async releaseUsage(orgId: string, authorityId: string, reservationId: string, keep?: number): Promise<ReleaseResult> {
    const state = this.usageState(orgId, authorityId, false);
    const hold = state?.holds.get(reservationId);
    if (!state || !hold) {
      // Never held (or already ended): a full release still ends the id, so a late reserve of it
      // (an attempt that lost its claim) is `already_applied` and holds nothing.
      if (keep === undefined) (this.usageState(orgId, authorityId, true) as UsageState).ended.add(reservationId);
      return { status: 'not_held' };
    }
    const giveBack = keep === undefined ? hold.amount : Math.max(0, hold.amount - keep);
    const countBack = keep === undefined ? 1 : 0;
    for (const w of WINDOW_NAMES) {
      const cur = state.windows[w];
      if (cur.period !== hold.periods[w]) continue;
      state.windows[w] = {
        period: cur.period,
        spent: Math.max(0, cur.spent - giveBack),
        count: Math.max(0, cur.count - countBack),
      };
    }
    state.holds.delete(reservationId);
    state.ended.add(reservationId);
    return { status: 'released', amount: giveBack };
  }

  async appendAuditDrafts(drafts: readonly AuditDraft[]): Promise<void> {
    this.auditOutbox.add(drafts.filter((d) => !this.auditChains.isLinked(d.org_id, d.id)));
  }
  /** The stored (frozen) drafts, oldest first by (`at`, `id`); no `outbox_ref` is needed to ack them. */
  async listAuditOutbox(limit: number): Promise<AuditDraft[]> {
    return this.auditOutbox.list(limit);
  }
  async ackAuditOutbox(drafts: readonly AuditDraft[]): Promise<void> {
    this.auditOutbox.ack(drafts);
  }
  async getAuditHead(orgId: string): Promise<AuditEvent | null> {
    return this.auditChains.head(orgId);
  }
  /** All or nothing: every event is checked (seq free, id not linked, also within the batch) before any is stored. */
  async appendAuditEvents(orgId: string, events: readonly AuditEvent[]): Promise<void> {
    const dropped = this.auditChains.append(orgId, events);
    if (dropped > 0) {
      this.droppedAuditEvents += dropped;
      this.onDrop?.({ kind: 'audit_events', dropped, total_dropped: this.droppedAuditEvents });
    }
  }
  async findLinkedAuditIds(orgId: string, ids: readonly string[]): Promise<string[]> {
    return this.auditChains.linked(orgId, ids);
  }
  async listAuditEvents(orgId: string, query: AuditQuery): Promise<AuditEvent[]> {
    return this.auditChains.list(orgId, query);
  }

  /** Test hook: the raw usage state, as the conformance suite reads the backing store directly. */
  inspectUsage(orgId: string, authorityId: string): { windows: Record<WindowName, WindowUsage>; holds: string[] } {
    const state = this.usageState(orgId, authorityId, false);
    return {
      windows: structuredClone(
        state?.windows ?? {
          daily: emptyWindow(''),
          weekly: emptyWindow(''),
          monthly: emptyWindow(''),
          total: emptyWindow(''),
        },
      ),
      holds: state ? [...state.holds.keys()] : [],
    };
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

  /** Test hook: the stored authorization record, or null. */
  /** The org's authorizations as `[order key, map key]`, oldest first; cached until one is added. */
  private orderedAuthorizations(orgId: string): [string, string][] {
    const cached = this.authorizationOrder.get(orgId);
    if (cached && cached.size === this.authorizations.size) return cached.keys;
    const keys: [string, string][] = [];
    for (const [key, r] of this.authorizations) {
      if (r.org_id === orgId) keys.push([authorizationOrderKey(r), key]);
    }
    keys.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.authorizationOrder.set(orgId, { size: this.authorizations.size, keys });
    return keys;
  }

  /**
   * The org's authorizations created in [from, to), oldest first, after the position `after` (an order key
   * returned as `next`), at most `limit`: the read behind MemoryPolicyAnalysisStorage.scanAuthorizations.
   */
  scanAuthorizations(
    orgId: string,
    scan: { from: string; to: string; after?: string; limit: number },
  ): { items: AuthorizationRecord[]; next: string | null } {
    const keys = this.orderedAuthorizations(orgId);
    const lower = scan.after !== undefined && scan.after >= scan.from ? scan.after : scan.from;
    // First order key > after (or >= from): binary search.
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = (keys[mid] as [string, string])[0];
      if (scan.after !== undefined && scan.after >= scan.from ? k <= lower : k < lower) lo = mid + 1;
      else hi = mid;
    }
    const items: AuthorizationRecord[] = [];
    let last: string | null = null;
    for (let i = lo; i < keys.length && items.length < scan.limit; i++) {
      const [order, key] = keys[i] as [string, string];
      if (order >= scan.to) break;
      items.push(this.authorizations.get(key) as AuthorizationRecord);
      last = order;
    }
    const more = last !== null && items.length === scan.limit;
    return { items, next: more ? last : null };
  }

  /** How many of the org's authorizations were created in [from, to), counting at most `cap`. */
  countAuthorizations(orgId: string, from: string, to: string, cap: number): number {
    let n = 0;
    for (const r of this.authorizations.values()) {
      if (r.org_id === orgId && r.created_at >= from && r.created_at < to && ++n >= cap) break;
    }
    return n;
  }

  inspectAuthorization(processorId: string, authorizationId: string): AuthorizationRecord | null {
    return this.authorizations.get(this.authKey(processorId, authorizationId)) ?? null;
  }

  /** Test hook: every pending audit draft, oldest first (frozen). */
  inspectAuditOutbox(): AuditDraft[] {
    return this.auditOutbox.all();
  }

  /** Test hook: the org's stored chain in seq order (frozen events; gaps left by a deletion are skipped). */
  inspectAuditChain(orgId: string): AuditEvent[] {
    return this.auditChains.all(orgId);
  }

  /**
   * TEST ONLY: tampers with the stored chain, bypassing the contract, so a verifier can be shown to catch
   * it. `mutate` gets a mutable deep copy of the event at `seq` and changes it in place (or returns a
   * replacement); the result is stored in the slot of `seq` as is (no hash is recomputed, and it stays in
   * that slot even if its `seq` field was changed). Throws when there is no event at `seq`.
   */
  tamperAuditEvent(orgId: string, seq: number, mutate: AuditEventMutation): AuditEvent {
    return this.auditChains.tamper(orgId, seq, mutate);
  }

  /**
   * TEST ONLY: deletes the stored event at `seq`, leaving a gap in the chain (when it was the head, the
   * head becomes the event before it). Throws when there is no event at `seq`.
   */
  deleteAuditEvent(orgId: string, seq: number): void {
    this.auditChains.delete(orgId, seq);
  }

  /**
   * TEST ONLY: exchanges the `seq` of two stored events (each moves to the other's place; nothing else of
   * them changes, hashes included), i.e. reorders the chain. Throws when either seq has no event.
   */
  swapAuditEvents(orgId: string, seqA: number, seqB: number): void {
    this.auditChains.swap(orgId, seqA, seqB);
  }
}
