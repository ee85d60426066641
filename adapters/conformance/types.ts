import type { AuditDraft, AuditEvent } from '../../src/audit/types.js';
import type {
  CredentialStorage,
  DomainStorage,
  PolicyAnalysisStorage,
  PolicyStorage,
  QuotaStorage,
  StorageAdapter,
} from '../../src/storage/index.js';
import type { AuthorizationRecord, WindowUsage } from '../../src/types.js';

/** The usage windows of an authority. */
export type WindowName = 'daily' | 'weekly' | 'monthly' | 'total';

/** Kinds of tenant-owned or global entities an inspector can read. */
export type EntityKind = 'org' | 'processor' | 'agent' | 'authority' | 'binding' | 'intent';

/** Usage of one (org, authority) as stored: windows as last written and the ids of open holds. */
export interface StoredUsage {
  windows: Record<WindowName, WindowUsage>;
  holds: string[];
}

/**
 * Reads the backing store directly, not through the adapter under test, so the suite can check that a
 * write really landed (or really did not). Every method returns domain objects without backend
 * internals (no `_id`), and `null` (or zero usage) for a miss.
 */
export interface DirectInspector {
  /** Stored usage of an authority under an org; never-used gives empty windows and no holds. */
  usage(orgId: string, authorityId: string): Promise<StoredUsage>;
  /** The stored authorization record keyed by (processor, authorization id). */
  authorization(processorId: string, authorizationId: string): Promise<AuthorizationRecord | null>;
  /** A stored entity by kind and id, whatever its org. */
  raw(kind: EntityKind, id: string): Promise<unknown | null>;
  /**
   * Optional: every pending audit draft (of the adapter's and the credential storage's writes), in any
   * order, without `outbox_ref`. The `audit` group checks the outbox through it when present.
   */
  auditOutbox?(): Promise<AuditDraft[]>;
  /** Optional: the org's stored chain, ascending by seq. */
  auditEvents?(orgId: string): Promise<AuditEvent[]>;
}

/** What a factory hands to the suite: a fresh adapter over an empty store (the runner calls `init()`). */
export interface ConformanceTarget {
  adapter: StorageAdapter;
  /**
   * The API credential storage of the same backend, over an empty store, writing its audit drafts into the
   * adapter's outbox. The `credentials` group runs on it (a target without one must skip that group); the
   * `audit` group also checks its drafts when there is one (the runner calls its `init()` in both).
   */
  credentials?: CredentialStorage;
  /**
   * The policy storage of the same backend, over an empty store, writing its audit drafts into the adapter's
   * outbox. The `policies` group runs on it (a target without one must skip that group).
   */
  policies?: PolicyStorage;
  /** A second policy storage on the same backend (another server); the race case uses it when present. */
  policiesPeer?: PolicyStorage;
  /**
   * The policy analysis storage of the same backend, reading the adapter's authorizations and writing its
   * audit drafts into the adapter's outbox. The `policy_analysis` group runs on it (a target without one
   * must skip that group; the runner calls its `init()`).
   */
  policyAnalysis?: PolicyAnalysisStorage;
  /**
   * The quota storage of the same backend, over an empty store. The `quotas` group runs on it (a target
   * without one must skip that group; the runner calls its `init()`).
   */
  quotas?: QuotaStorage;
  /**
   * The domain storage of the same backend, writing its audit drafts into the adapter's outbox. The `domains`
   * group runs on it (a target without one must skip that group; the runner calls its `init()`).
   */
  domains?: DomainStorage;
  /** Optional direct reader of the backing store; cases check writes through it when present. */
  inspect?: DirectInspector;
  /** Called after each case (close connections, drop the database). */
  cleanup?(): Promise<void>;
}

/** Names of the groups of the suite; each can be switched off with `options.skip`. */
export type GroupName =
  | 'crud'
  | 'lookups'
  | 'pagination'
  | 'tenancy'
  | 'idempotency'
  | 'approvals'
  | 'reservations'
  | 'intents'
  | 'errors'
  | 'credentials'
  | 'audit'
  | 'policies'
  | 'policy_analysis'
  | 'quotas'
  | 'domains';

/** The storage contracts the groups are sorted by (see `CONCERNS`). */
export type Concern =
  | 'entities'
  | 'authorizations'
  | 'ledger'
  | 'audit'
  | 'credentials'
  | 'policies'
  | 'policy_analysis'
  | 'quotas'
  | 'domains';

/**
 * A test runner's function that registers one named async test: `test` or `it` of node:test, vitest and
 * jest, or a uvu `suite()`. A failed check throws (an AssertionError of node:assert/strict).
 */
export type TestFunction = (name: string, body: () => Promise<void>) => unknown;

/** Options of `runAdapterConformance`. */
export interface ConformanceOptions {
  /** Groups not to run, e.g. `errors` for a backend that cannot be closed. */
  skip?: GroupName[];
  /** Only the groups of these storage contracts (default: all); `skip` still applies. */
  concerns?: Concern[];
  /** Parallel operations in the concurrency cases. Default 200. */
  concurrency?: number;
}

/** The body of one case: it gets a fresh target; the runner cleans it up. */
export type CaseBody = (target: ConformanceTarget) => Promise<void>;

/** Handed to a group to declare its cases. */
export interface GroupBuilder {
  /** Parallel operations for concurrency cases. */
  readonly concurrency: number;
  /** Declares a case. */
  it(name: string, body: CaseBody): void;
}

/** A group of the suite: declares its cases on the builder. */
export type ConformanceGroup = (g: GroupBuilder) => void;
