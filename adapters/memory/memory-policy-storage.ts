import type { AuditDraft } from '../../src/audit/types.js';
import {
  emptyPolicyState,
  type InsertBundleResult,
  type Page,
  type PolicyBundleMeta,
  type PolicyBundleRecord,
  type PolicyState,
  type PolicyStateChange,
  type PolicyStorage,
} from '../../src/storage/index.js';
import { MemoryAuditOutbox } from './memory-audit-outbox.js';

/** Options of {@link MemoryPolicyStorage}. */
export interface MemoryPolicyStorageOptions {
  /** The `auditOutbox` of the MemoryAdapter of the same server (see `createMemoryStores`). */
  outbox?: MemoryAuditOutbox;
}

function scopeOf(orgId: string | null): string {
  return orgId ?? '';
}

function bundleKey(orgId: string | null, revision: string): string {
  return `${scopeOf(orgId)}\u0000${revision}`;
}

/** The list order: newest upload first, then revision (the cursor is `uploaded_at NUL revision`). */
function listKey(b: PolicyBundleMeta): string {
  return `${b.uploaded_at}\u0000${b.revision}`;
}

function metaOf(r: PolicyBundleRecord): PolicyBundleMeta {
  const { bytes: _bytes, ...meta } = r;
  return Object.freeze({ ...meta, entrypoints: Object.freeze([...meta.entrypoints]) as string[] });
}

function freezeState(s: PolicyState): PolicyState {
  return Object.freeze({ ...s, previous: Object.freeze([...s.previous]) as (string | null)[] });
}

/**
 * In-memory {@link PolicyStorage}: bundles and states of one process. A write and its audit drafts happen
 * in one synchronous step; the change sequence moves after the state it announces.
 */
export class MemoryPolicyStorage implements PolicyStorage {
  private readonly bundles = new Map<string, { meta: PolicyBundleMeta; bytes: Uint8Array }>();
  private readonly states = new Map<string, PolicyState>();
  private seq = 0;
  /** Where the drafts of this storage's writes go. */
  readonly auditOutbox: MemoryAuditOutbox;

  constructor(options: MemoryPolicyStorageOptions = {}) {
    this.auditOutbox = options.outbox ?? new MemoryAuditOutbox();
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async insertBundle(bundle: PolicyBundleRecord, events?: readonly AuditDraft[]): Promise<InsertBundleResult> {
    const key = bundleKey(bundle.org_id, bundle.revision);
    const existing = this.bundles.get(key);
    if (existing) {
      return { status: existing.meta.sha256 === bundle.sha256 ? 'exists' : 'conflict', bundle: existing.meta };
    }
    const meta = metaOf(bundle);
    this.bundles.set(key, { meta, bytes: new Uint8Array(bundle.bytes) });
    this.auditOutbox.add(events);
    return { status: 'inserted', bundle: meta };
  }

  async getBundle(orgId: string | null, revision: string): Promise<PolicyBundleMeta | null> {
    return this.bundles.get(bundleKey(orgId, revision))?.meta ?? null;
  }

  async getBundleBytes(orgId: string | null, revision: string): Promise<Uint8Array | null> {
    const found = this.bundles.get(bundleKey(orgId, revision));
    return found ? new Uint8Array(found.bytes) : null;
  }

  async listBundles(orgId: string | null, query: { limit: number; cursor?: string }): Promise<Page<PolicyBundleMeta>> {
    const scope = scopeOf(orgId);
    const matches = [...this.bundles.values()]
      .map((b) => b.meta)
      .filter((m) => scopeOf(m.org_id) === scope && (query.cursor === undefined || listKey(m) < query.cursor))
      .sort((a, b) => (listKey(a) < listKey(b) ? 1 : -1));
    const items = matches.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, next_cursor: matches.length > query.limit && last ? listKey(last) : null };
  }

  async retireBundle(
    orgId: string | null,
    revision: string,
    at: string,
    events?: readonly AuditDraft[],
  ): Promise<PolicyBundleMeta | null> {
    const key = bundleKey(orgId, revision);
    const found = this.bundles.get(key);
    if (!found) return null;
    if (found.meta.retired_at !== null) return found.meta;
    const meta = Object.freeze({ ...found.meta, retired_at: at });
    this.bundles.set(key, { meta, bytes: found.bytes });
    this.auditOutbox.add(events);
    return meta;
  }

  async getState(orgId: string | null): Promise<PolicyState> {
    return this.states.get(scopeOf(orgId)) ?? freezeState(emptyPolicyState(orgId));
  }

  async updateState(
    orgId: string | null,
    expectVersion: number,
    change: PolicyStateChange,
    events?: readonly AuditDraft[],
  ): Promise<PolicyState | null> {
    // No await before the write: the check and the write are one step.
    const current = this.states.get(scopeOf(orgId)) ?? emptyPolicyState(orgId);
    if (current.version !== expectVersion) return null;
    const next = freezeState({
      org_id: orgId,
      active: change.active,
      shadow: change.shadow,
      previous: change.previous,
      activated_at: change.activated_at,
      signing_key: change.signing_key,
      version: current.version + 1,
    });
    this.states.set(scopeOf(orgId), next);
    this.auditOutbox.add(events);
    this.seq++;
    return next;
  }

  async listStates(): Promise<PolicyState[]> {
    return [...this.states.values()];
  }

  async changeSequence(): Promise<number> {
    return this.seq;
  }
}
