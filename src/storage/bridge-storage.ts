import type { AuditDraft } from '../audit/types.js';

/** The card processors Allowance answers in their own format. */
export type BridgeKind = 'stripe_issuing' | 'lithic_asa' | 'lithic_events';

/**
 * One signing secret of a bridge, sealed with the secret box under the master key (bound to
 * `<org_id>/<kind>/<id>`), never stored in clear.
 */
export interface BridgeSecret {
  /** `bsk_…`. */
  id: string;
  ciphertext: string;
  /** Last four characters of the secret, for masked views. */
  last4: string;
  created_at: string;
  /** Null while it is the current secret; once rotated out, the end of its grace period. */
  expires_at: string | null;
}

/** An org's bridge of one processor: which Allowance processor it acts as and its signing secrets. */
export interface BridgeRecord {
  org_id: string;
  kind: BridgeKind;
  /** The Allowance processor whose bindings (type `card`, reference = the processor's card id) resolve agents. */
  processor_id: string;
  /** The current secret first, then secrets rotated out that are still in their grace period. */
  secrets: BridgeSecret[];
  created_at: string;
  updated_at: string;
  /** Starts at 1; every replace increments it (compare-and-set). */
  version: number;
}

/**
 * Where bridge records are kept. Every write is all or nothing; `replace` is a compare-and-set on `version`.
 * Errors are StorageErrors (`conflict` on a duplicate create or a lost compare-and-set).
 *
 * Audit outbox: `events` (the `bridge.registered`, `bridge.secret_rotated` and `bridge.deleted` drafts) are
 * stored atomically with the write into the outbox of the engine adapter of the same backend (both or
 * neither); a write that fails or misses (`conflict`, `false`) stores none.
 */
export interface BridgeStorage {
  init(): Promise<void>;
  get(orgId: string, kind: BridgeKind): Promise<BridgeRecord | null>;
  /** Inserts a new record (version 1); `conflict` when the org already has a bridge of that kind. */
  create(record: BridgeRecord, events?: readonly AuditDraft[]): Promise<void>;
  /** Replaces the record whose version is `expectedVersion`; false when it changed or is gone. */
  replace(record: BridgeRecord, expectedVersion: number, events?: readonly AuditDraft[]): Promise<boolean>;
  /** Deletes it; false when there was none. */
  delete(orgId: string, kind: BridgeKind, events?: readonly AuditDraft[]): Promise<boolean>;
  close(): Promise<void>;
}
