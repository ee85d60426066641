import type { StorageAdapter } from './adapter.js';
import type { BridgeStorage } from './bridge-storage.js';
import type { CredentialStorage } from './credential-storage.js';
import type { DomainStorage } from './domain-storage.js';
import type { PolicyAnalysisStorage } from './policy-analysis-storage.js';
import type { PolicyStorage } from './policy-storage.js';
import type { QuotaStorage } from './quota-storage.js';
import type { WebhookStorage } from './webhook-storage.js';

/**
 * Every store of one backend, as its factory returns them (`createMemoryStores`, `createMongoStores`): a
 * server is composed from one set. They share the backend's audit outbox, so `store.listAuditOutbox`
 * returns the drafts of every member's writes, each stored atomically with its write.
 */
export interface StorageSet {
  /**
   * The engine's store: entities, authorizations, the usage ledger, the audit outbox and chain. The
   * backends of adapters/ build it from one object per contract (`StorageParts`, `store.parts`).
   */
  store: StorageAdapter;
  /** API credentials and agent-token revocations. */
  credentials: CredentialStorage;
  /** Webhook endpoints and their deliveries. */
  webhooks: WebhookStorage;
  /** Per-org policy bundles and their activation. */
  policies: PolicyStorage;
  /** Shadow statistics and replay jobs, reading the store's authorizations. */
  policyAnalysis: PolicyAnalysisStorage;
  /** Card-processor bridges and their sealed signing secrets. */
  bridges: BridgeStorage;
  /** Org plans and their usage counters (agents, webhooks, decisions per month). */
  quotas: QuotaStorage;
  /** Org domains proved by DNS and the org's webhook domain setting. */
  domains: DomainStorage;
}
