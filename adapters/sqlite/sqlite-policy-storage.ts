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
import { SqliteStore } from './sqlite-store.js';

function scopeOf(orgId: string | null): string {
  return orgId ?? '';
}

/** The list order: newest upload first, then revision (the cursor is `uploaded_at NUL revision`). */
function listKey(b: PolicyBundleMeta): string {
  return `${b.uploaded_at}\u0000${b.revision}`;
}

function metaOf(r: PolicyBundleRecord): PolicyBundleMeta {
  const { bytes: _bytes, ...meta } = r;
  return { ...meta, entrypoints: [...meta.entrypoints] };
}

/**
 * {@link PolicyStorage} on the SQLite database of a SqliteAdapter. A state's compare-and-set, its drafts
 * and the change sequence's increment are one IMMEDIATE transaction, so a reader never sees the sequence
 * move before the state it announces, whichever process wrote it.
 */
export class SqlitePolicyStorage extends SqliteStore implements PolicyStorage {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {}

  private metaSync(orgId: string | null, revision: string): PolicyBundleMeta | null {
    const row = this.sql('SELECT meta FROM policy_bundles WHERE scope = ? AND revision = ?').get(
      scopeOf(orgId),
      revision,
    ) as { meta: string } | undefined;
    return row ? (JSON.parse(row.meta) as PolicyBundleMeta) : null;
  }

  async insertBundle(bundle: PolicyBundleRecord, events?: readonly AuditDraft[]): Promise<InsertBundleResult> {
    return this.tx((): InsertBundleResult => {
      const existing = this.metaSync(bundle.org_id, bundle.revision);
      if (existing) return { status: existing.sha256 === bundle.sha256 ? 'exists' : 'conflict', bundle: existing };
      const meta = metaOf(bundle);
      this.sql('INSERT INTO policy_bundles (scope, revision, list_key, meta, bytes) VALUES (?, ?, ?, ?, ?)').run(
        scopeOf(bundle.org_id),
        bundle.revision,
        listKey(meta),
        JSON.stringify(meta),
        Buffer.from(bundle.bytes.buffer, bundle.bytes.byteOffset, bundle.bytes.byteLength),
      );
      this.addDrafts(events);
      return { status: 'inserted', bundle: meta };
    });
  }

  async getBundle(orgId: string | null, revision: string): Promise<PolicyBundleMeta | null> {
    return this.read(() => this.metaSync(orgId, revision));
  }

  async getBundleBytes(orgId: string | null, revision: string): Promise<Uint8Array | null> {
    return this.read(() => {
      const row = this.sql('SELECT bytes FROM policy_bundles WHERE scope = ? AND revision = ?').get(
        scopeOf(orgId),
        revision,
      ) as { bytes: Buffer } | undefined;
      return row ? new Uint8Array(row.bytes) : null;
    });
  }

  async listBundles(orgId: string | null, query: { limit: number; cursor?: string }): Promise<Page<PolicyBundleMeta>> {
    return this.read(() => {
      const rows = (
        query.cursor === undefined
          ? this.sql('SELECT meta FROM policy_bundles WHERE scope = ? ORDER BY list_key DESC LIMIT ?').all(
              scopeOf(orgId),
              query.limit + 1,
            )
          : this.sql(
              'SELECT meta FROM policy_bundles WHERE scope = ? AND list_key < ? ORDER BY list_key DESC LIMIT ?',
            ).all(scopeOf(orgId), query.cursor, query.limit + 1)
      ) as { meta: string }[];
      const items = rows.slice(0, query.limit).map((r) => JSON.parse(r.meta) as PolicyBundleMeta);
      const last = items[items.length - 1];
      return { items, next_cursor: rows.length > query.limit && last ? listKey(last) : null };
    });
  }

  async retireBundle(
    orgId: string | null,
    revision: string,
    at: string,
    events?: readonly AuditDraft[],
  ): Promise<PolicyBundleMeta | null> {
    return this.tx(() => {
      const found = this.metaSync(orgId, revision);
      if (!found) return null;
      if (found.retired_at !== null) return found;
      const meta = { ...found, retired_at: at };
      this.sql('UPDATE policy_bundles SET meta = ? WHERE scope = ? AND revision = ?').run(
        JSON.stringify(meta),
        scopeOf(orgId),
        revision,
      );
      this.addDrafts(events);
      return meta;
    });
  }

  private stateSync(orgId: string | null): PolicyState {
    return (
      this.doc<PolicyState>(this.sql('SELECT doc FROM policy_states WHERE scope = ?').get(scopeOf(orgId))) ??
      emptyPolicyState(orgId)
    );
  }

  async getState(orgId: string | null): Promise<PolicyState> {
    return this.read(() => this.stateSync(orgId));
  }

  async updateState(
    orgId: string | null,
    expectVersion: number,
    change: PolicyStateChange,
    events?: readonly AuditDraft[],
  ): Promise<PolicyState | null> {
    return this.tx(() => {
      const current = this.stateSync(orgId);
      if (current.version !== expectVersion) return null;
      const next: PolicyState = {
        org_id: orgId,
        active: change.active,
        shadow: change.shadow,
        previous: [...change.previous],
        activated_at: change.activated_at,
        signing_key: change.signing_key,
        version: current.version + 1,
      };
      this.sql(
        'INSERT INTO policy_states (scope, version, doc) VALUES (?, ?, ?) ON CONFLICT (scope) DO UPDATE SET version = excluded.version, doc = excluded.doc',
      ).run(scopeOf(orgId), next.version, JSON.stringify(next));
      this.addDrafts(events);
      this.sql('UPDATE policy_change_sequence SET seq = seq + 1 WHERE id = 1').run();
      return next;
    });
  }

  async listStates(): Promise<PolicyState[]> {
    return this.read(() => this.docs<PolicyState>(this.sql('SELECT doc FROM policy_states').all()));
  }

  async changeSequence(): Promise<number> {
    return this.read(
      () => (this.sql('SELECT seq FROM policy_change_sequence WHERE id = 1').get() as { seq: number }).seq,
    );
  }
}
