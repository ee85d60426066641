import type { AuditDraft } from '../audit/types.js';
import type { Page } from './adapter.js';

/**
 * An uploaded policy bundle, without its bytes. `org_id` is null for a platform base bundle. The bytes are
 * immutable: the same (org, revision) is only ever stored once, with one sha256.
 */
export interface PolicyBundleMeta {
  org_id: string | null;
  revision: string;
  /** Lower-case hex SHA-256 of the archive bytes. */
  sha256: string;
  size_bytes: number;
  entrypoints: string[];
  uploaded_at: string;
  /** Key id of the credential that uploaded it. */
  uploaded_by: string;
  /** When it was retired (never activated again), or null. */
  retired_at: string | null;
}

/** A bundle as written: its metadata and the archive bytes. */
export interface PolicyBundleRecord extends PolicyBundleMeta {
  bytes: Uint8Array;
}

/**
 * Which revisions are in force for one org (or the platform base, `org_id` null). Changed only by
 * compare-and-set on `version` (0 = never written).
 */
export interface PolicyState {
  org_id: string | null;
  /** The active revision, or null: the base policy alone decides (for the base state: the bundle of the file). */
  active: string | null;
  /** The revision evaluated beside the active one for comparison, or null. */
  shadow: string | null;
  /** Earlier active revisions, most recent last; null stands for "no org revision" (base only). */
  previous: (string | null)[];
  /** When `active` became active, or null. */
  activated_at: string | null;
  /**
   * Public key (SPKI PEM) that must have signed every bundle the org uploads, or null when bundles need
   * no signature.
   */
  signing_key: string | null;
  version: number;
}

/** The parts of a state a compare-and-set replaces. */
export type PolicyStateChange = Pick<PolicyState, 'active' | 'shadow' | 'previous' | 'activated_at' | 'signing_key'>;

/** What {@link PolicyStorage.insertBundle} found. */
export type InsertBundleResult =
  /** Stored now. */
  | { status: 'inserted'; bundle: PolicyBundleMeta }
  /** The same (org, revision) was there already with the same sha256: nothing written. */
  | { status: 'exists'; bundle: PolicyBundleMeta }
  /** The same (org, revision) is there with other content: nothing written. */
  | { status: 'conflict'; bundle: PolicyBundleMeta };

/**
 * Storage of per-org policy bundles and policy states: its own small contract next to the StorageAdapter
 * (the engine's adapter does not grow for it). Same rules as StorageAdapter: async, `null` on a miss, throws
 * only StorageError, returns copies or frozen objects. Audit drafts passed to a write are stored atomically
 * with it in the outbox of the StorageAdapter of the same backend.
 *
 * Hot swap: every successful state change increments a store-wide change sequence *after* the state is
 * written, so a reader that sees the sequence move and then lists the states sees the change. Servers poll
 * `changeSequence()` and list the states when it moved.
 *
 * Implementations: adapters/memory and adapters/mongodb; the conformance suite checks them (its `policies`
 * group, including two servers racing to promote).
 */
export interface PolicyStorage {
  /** Creates indexes; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Insert-if-absent by (org, revision); see {@link InsertBundleResult}. */
  insertBundle(bundle: PolicyBundleRecord, events?: readonly AuditDraft[]): Promise<InsertBundleResult>;
  getBundle(orgId: string | null, revision: string): Promise<PolicyBundleMeta | null>;
  /** The archive bytes of a bundle. */
  getBundleBytes(orgId: string | null, revision: string): Promise<Uint8Array | null>;
  /** Bundles of an org (null: base bundles), newest upload first; `cursor` is the last `next_cursor`. */
  listBundles(orgId: string | null, query: { limit: number; cursor?: string }): Promise<Page<PolicyBundleMeta>>;
  /** Sets `retired_at` of a bundle once; the stored bundle, or null on a miss. */
  retireBundle(
    orgId: string | null,
    revision: string,
    at: string,
    events?: readonly AuditDraft[],
  ): Promise<PolicyBundleMeta | null>;
  /** The state of an org (null: the base); a never written one has version 0 and nothing active. */
  getState(orgId: string | null): Promise<PolicyState>;
  /**
   * Compare-and-set: writes `change` when the stored version is `expectVersion` and returns the new state
   * (version + 1); returns null, writing nothing, when the version moved. Then increments the change sequence.
   */
  updateState(
    orgId: string | null,
    expectVersion: number,
    change: PolicyStateChange,
    events?: readonly AuditDraft[],
  ): Promise<PolicyState | null>;
  /** Every stored state (the orgs that ever had a policy change, and the base). */
  listStates(): Promise<PolicyState[]>;
  /** The store-wide change sequence: grows with every successful state change; 0 before the first. */
  changeSequence(): Promise<number>;
}

/** A fresh, never written state. */
export function emptyPolicyState(orgId: string | null): PolicyState {
  return { org_id: orgId, active: null, shadow: null, previous: [], activated_at: null, signing_key: null, version: 0 };
}
