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
import { flatString, isPackedDecision, packDecision, type StoredDecision, unpackDecision } from './decision-packing.js';
import { PackedInput, packInput, unpackInput } from './input-packing.js';
import type { MemoryAdapterOptions } from './memory-adapter.js';
import type { MemoryAuditOutbox } from './memory-audit-outbox.js';
import { paginate, snapshot } from './memory-table.js';

/**
 * The newest-first order (and cursor) of authorization lists: creation time, then the authorization id, then
 * the processor id, which breaks ties as one authorization id may be used by several processors at once.
 */
function authorizationOrderKey(r: AuthorizationRow): string {
  return `${r.created_at}\u0000${r.authorization_id}\u0000${r.processor_id}`;
}

/** True while a record's approval can still be decided or used: such a record is never dropped. */
function liveApproval(r: AuthorizationRow): boolean {
  return r.approval?.status === 'pending' || r.approval?.status === 'approved';
}

/**
 * A stored authorization: the record with its decision packed (see {@link StoredDecision}); read through
 * {@link recordOf}.
 */
type AuthorizationRow = Omit<AuthorizationRecord, 'decision'> & { decision: StoredDecision | null };

/**
 * An authorization record to store: one object literal of every field, so every stored record shares one
 * shape. Freezing an object made by spreading gives it a hidden class of its own, several hundred bytes
 * per record that the store would keep for every decision. A field outside the type is kept too. The
 * decision and the policy input are packed (see {@link StoredDecision}, {@link PackedInput}), sharing the
 * record's equal strings; `updated_at` shares `created_at` when equal.
 */
function authorizationRow(r: AuthorizationRow): AuthorizationRow {
  const input = r.policy_input;
  return authorizationLiteral(
    r,
    r.decision === null ? null : packDecision(r.decision, r as unknown as Record<string, unknown>),
    input instanceof PackedInput ? input : (packInput(input, r) ?? input),
  );
}

/**
 * `r` as the one-shape literal of every field (and any field outside the type), with `decision` and
 * `policy_input`.
 */
function authorizationLiteral<D>(
  r: AuthorizationRow,
  decision: D,
  policyInput: unknown,
): Omit<AuthorizationRow, 'decision'> & { decision: D } {
  const createdAt = r.created_at;
  const row: Omit<AuthorizationRow, 'decision'> & { decision: D } = {
    processor_id: r.processor_id,
    authorization_id: r.authorization_id,
    org_id: r.org_id,
    status: r.status,
    request_sha256: r.request_sha256,
    reservation_id: flatString(r.reservation_id),
    attempt: r.attempt,
    lease_until: r.lease_until,
    agent_id: r.agent_id,
    authority_id: r.authority_id,
    intent_id: r.intent_id,
    amount: r.amount,
    approved_amount: r.approved_amount,
    captured_amount: r.captured_amount,
    currency: r.currency,
    hold_open: r.hold_open,
    hold_expires_at: r.hold_expires_at,
    decision,
    policy_input: policyInput,
    version: r.version,
    created_at: createdAt,
    updated_at: r.updated_at === createdAt ? createdAt : r.updated_at,
  };
  const from = r as unknown as Record<string, unknown>;
  for (const key in from) if (!ROW_KEYS.has(key)) (row as unknown as Record<string, unknown>)[key] = from[key];
  return row;
}

/** The fields of the stored literal (see {@link authorizationLiteral}). */
const ROW_KEYS: ReadonlySet<string> = new Set([
  'processor_id',
  'authorization_id',
  'org_id',
  'status',
  'request_sha256',
  'reservation_id',
  'attempt',
  'lease_until',
  'agent_id',
  'authority_id',
  'intent_id',
  'amount',
  'approved_amount',
  'captured_amount',
  'currency',
  'hold_open',
  'hold_expires_at',
  'decision',
  'policy_input',
  'version',
  'created_at',
  'updated_at',
]);

/**
 * `row` with `patch` applied as `{ ...row, ...patch }` would (a key of `patch` wins, even undefined), its ids
 * kept and its version the next one; read field by field rather than spread, which copies a frozen row
 * slowly, and packed as {@link authorizationRow} packs a record.
 */
function patchedRow(row: AuthorizationRow, patch: Partial<AuthorizationRecord>): AuthorizationRow {
  const p = patch as Partial<AuthorizationRow>;
  const merged: AuthorizationRow = {
    processor_id: row.processor_id,
    authorization_id: row.authorization_id,
    org_id: 'org_id' in p ? (p.org_id as AuthorizationRow['org_id']) : row.org_id,
    status: 'status' in p ? (p.status as AuthorizationRow['status']) : row.status,
    request_sha256:
      'request_sha256' in p ? (p.request_sha256 as AuthorizationRow['request_sha256']) : row.request_sha256,
    reservation_id:
      'reservation_id' in p ? (p.reservation_id as AuthorizationRow['reservation_id']) : row.reservation_id,
    attempt: 'attempt' in p ? (p.attempt as AuthorizationRow['attempt']) : row.attempt,
    lease_until: 'lease_until' in p ? (p.lease_until as AuthorizationRow['lease_until']) : row.lease_until,
    agent_id: 'agent_id' in p ? (p.agent_id as AuthorizationRow['agent_id']) : row.agent_id,
    authority_id: 'authority_id' in p ? (p.authority_id as AuthorizationRow['authority_id']) : row.authority_id,
    intent_id: 'intent_id' in p ? (p.intent_id as AuthorizationRow['intent_id']) : row.intent_id,
    amount: 'amount' in p ? (p.amount as AuthorizationRow['amount']) : row.amount,
    approved_amount:
      'approved_amount' in p ? (p.approved_amount as AuthorizationRow['approved_amount']) : row.approved_amount,
    captured_amount:
      'captured_amount' in p ? (p.captured_amount as AuthorizationRow['captured_amount']) : row.captured_amount,
    currency: 'currency' in p ? (p.currency as AuthorizationRow['currency']) : row.currency,
    hold_open: 'hold_open' in p ? (p.hold_open as AuthorizationRow['hold_open']) : row.hold_open,
    hold_expires_at:
      'hold_expires_at' in p ? (p.hold_expires_at as AuthorizationRow['hold_expires_at']) : row.hold_expires_at,
    decision: 'decision' in p ? (p.decision as AuthorizationRow['decision']) : row.decision,
    policy_input: 'policy_input' in p ? (p.policy_input as AuthorizationRow['policy_input']) : row.policy_input,
    version: row.version + 1,
    created_at: 'created_at' in p ? (p.created_at as AuthorizationRow['created_at']) : row.created_at,
    updated_at: 'updated_at' in p ? (p.updated_at as AuthorizationRow['updated_at']) : row.updated_at,
  };
  const extra = merged as unknown as Record<string, unknown>;
  const fromRow = row as unknown as Record<string, unknown>;
  for (const key in fromRow) if (!ROW_KEYS.has(key)) extra[key] = fromRow[key];
  const fromPatch = p as Record<string, unknown>;
  for (const key in fromPatch) if (!ROW_KEYS.has(key)) extra[key] = fromPatch[key];
  // Stored as authorizationRow stores a record, in place: this literal has the same shape.
  merged.reservation_id = flatString(merged.reservation_id);
  if (merged.updated_at === merged.created_at) merged.updated_at = merged.created_at;
  if (merged.decision !== null) merged.decision = packDecision(merged.decision, extra);
  const input = merged.policy_input;
  if (!(input instanceof PackedInput)) merged.policy_input = packInput(input, merged) ?? input;
  return merged;
}

/** The record a stored row stands for: the row itself, or a frozen copy with its decision rebuilt. */
function recordOf(row: AuthorizationRow): AuthorizationRecord {
  const d = row.decision;
  const input = row.policy_input;
  const packedDecision = d !== null && isPackedDecision(d);
  if (!packedDecision && !(input instanceof PackedInput)) return row as AuthorizationRecord;
  return Object.freeze(
    authorizationLiteral(
      row,
      packedDecision ? unpackDecision(d) : d,
      input instanceof PackedInput ? unpackInput(input) : input,
    ),
  ) as AuthorizationRecord;
}

/** A page of rows as records. */
function pageOf(page: Page<AuthorizationRow>): Page<AuthorizationRecord> {
  return { items: page.items.map(recordOf), next_cursor: page.next_cursor };
}

/**
 * {@link AuthorizationStorage} in memory, bounded by `maxAuthorizations` (the oldest that hold nothing are
 * dropped). A write and its drafts (added to the shared {@link MemoryAuditOutbox}) are one synchronous step.
 */
export class MemoryAuthorizationStorage implements AuthorizationStorage {
  private readonly authorizations = new Map<string, AuthorizationRow>();
  /** Approval id → authorization key, for every record that carries an approval. */
  private readonly approvalKeys = new Map<string, string>();
  /** Per org: authorization keys sorted by their list order, rebuilt when an authorization was added. */
  private readonly authorizationOrder = new Map<string, { size: number; keys: [string, string][] }>();
  private readonly maxAuthorizations: number;
  private readonly onDrop: MemoryAdapterOptions['onDrop'];
  private droppedAuthorizations = 0;

  constructor(
    private readonly outbox: MemoryAuditOutbox,
    options: MemoryAdapterOptions = {},
  ) {
    this.maxAuthorizations = options.maxAuthorizations ?? Number.POSITIVE_INFINITY;
    this.onDrop = options.onDrop;
  }

  /** Drops the oldest authorizations that hold nothing while more than the bound are kept. */
  private boundAuthorizations(): void {
    let excess = this.authorizations.size - this.maxAuthorizations;
    if (excess <= 0) return;
    let dropped = 0;
    for (const [key, r] of this.authorizations) {
      if (excess <= 0) break;
      if (r.hold_open || r.status === 'pending' || liveApproval(r)) continue;
      this.authorizations.delete(key);
      if (r.approval) this.approvalKeys.delete(r.approval.id);
      excess--;
      dropped++;
    }
    if (dropped === 0) return;
    this.authorizationOrder.clear();
    this.droppedAuthorizations += dropped;
    this.onDrop?.({ kind: 'authorizations', dropped, total_dropped: this.droppedAuthorizations });
  }

  private authKey(processorId: string, authorizationId: string): string {
    return `${processorId}\u0000${authorizationId}`;
  }

  async claimAuthorization(record: AuthorizationRecord, events?: readonly AuditDraft[]): Promise<ClaimResult> {
    const key = this.authKey(record.processor_id, record.authorization_id);
    const existing = this.authorizations.get(key);
    if (existing) return { created: false, existing: recordOf(existing) };
    this.authorizations.set(key, snapshot(authorizationRow(record)));
    if (record.approval) this.approvalKeys.set(record.approval.id, key);
    this.outbox.add(events);
    this.boundAuthorizations();
    return { created: true };
  }
  async getAuthorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null> {
    const row = this.authorizations.get(this.authKey(processorId, authorizationId));
    return row ? recordOf(row) : null;
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
    const next = snapshot(patchedRow(row, patch));
    this.authorizations.set(key, next);
    if (next.approval) this.approvalKeys.set(next.approval.id, key);
    this.outbox.add(events);
    // The decision and the policy input just written are the ones a read rebuilds: returned as given (the
    // store keeps neither object), nothing is rebuilt.
    const given = patch.decision;
    const input = patch.policy_input;
    const givenDecision =
      given !== undefined && given !== null && next.decision !== null && isPackedDecision(next.decision);
    const givenInput = 'policy_input' in patch && next.policy_input instanceof PackedInput;
    if (!givenDecision && !givenInput) return recordOf(next);
    const d = next.decision;
    return Object.freeze(
      authorizationLiteral(
        next,
        givenDecision ? given : d !== null && isPackedDecision(d) ? unpackDecision(d) : d,
        givenInput
          ? input
          : next.policy_input instanceof PackedInput
            ? unpackInput(next.policy_input)
            : next.policy_input,
      ),
    ) as AuthorizationRecord;
  }
  async findOrgAuthorizations(orgId: string, authorizationId: string, limit: number): Promise<AuthorizationRecord[]> {
    return [...this.authorizations.values()]
      .filter((r) => r.org_id === orgId && r.authorization_id === authorizationId)
      .sort((a, b) => (a.processor_id < b.processor_id ? -1 : a.processor_id > b.processor_id ? 1 : 0))
      .slice(0, limit)
      .map(recordOf);
  }
  async findApproval(approvalId: string): Promise<AuthorizationRecord | null> {
    const key = this.approvalKeys.get(approvalId);
    const rec = key === undefined ? undefined : this.authorizations.get(key);
    return rec?.approval?.id === approvalId ? recordOf(rec) : null;
  }
  async listApprovals(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    const { status, ...rest } = query;
    const rows = [...this.authorizations.values()].filter(
      (r) => r.org_id === orgId && r.approval && (status === undefined || r.approval.status === status),
    );
    return pageOf(paginate(rows, rest, authorizationOrderKey));
  }
  async listDueApprovals(before: string, limit: number): Promise<AuthorizationRecord[]> {
    return [...this.authorizations.values()]
      .filter((r) => liveApproval(r) && (r.approval?.expires_at as string) <= before)
      .sort((a, b) => ((a.approval?.expires_at as string) < (b.approval?.expires_at as string) ? -1 : 1))
      .slice(0, limit)
      .map(recordOf);
  }
  async listAuthorizations(orgId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    const rows = [...this.authorizations.values()].filter((r) => r.org_id === orgId);
    return pageOf(paginate(rows, query, authorizationOrderKey));
  }
  async listProcessorAuthorizations(processorId: string, query: ListQuery): Promise<Page<AuthorizationRecord>> {
    const rows = [...this.authorizations.values()].filter((r) => r.processor_id === processorId);
    return pageOf(paginate(rows, query, authorizationOrderKey));
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
      .slice(0, limit)
      .map(recordOf);
  }

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
      items.push(recordOf(this.authorizations.get(key) as AuthorizationRow));
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

  /** Test hook: the stored authorization record, or null. */
  inspectAuthorization(processorId: string, authorizationId: string): AuthorizationRecord | null {
    const row = this.authorizations.get(this.authKey(processorId, authorizationId));
    return row ? recordOf(row) : null;
  }
}
