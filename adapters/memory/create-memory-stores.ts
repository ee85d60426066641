import type { StorageSet } from '../../src/storage/index.js';
import { MemoryAdapter, type MemoryAdapterOptions } from './memory-adapter.js';
import { MemoryBridgeStorage } from './memory-bridge-storage.js';
import { MemoryCredentialStorage } from './memory-credential-storage.js';
import { MemoryDomainStorage } from './memory-domain-storage.js';
import { MemoryPolicyAnalysisStorage } from './memory-policy-analysis-storage.js';
import { MemoryPolicyStorage } from './memory-policy-storage.js';
import { MemoryQuotaStorage } from './memory-quota-storage.js';
import { MemoryWebhookStorage } from './memory-webhook-storage.js';

/** The stores of a server on the memory backend: the memory {@link StorageSet}. */
export interface MemoryStores extends StorageSet {
  store: MemoryAdapter;
  credentials: MemoryCredentialStorage;
  webhooks: MemoryWebhookStorage;
  policies: MemoryPolicyStorage;
  policyAnalysis: MemoryPolicyAnalysisStorage;
  /** Card-processor bridges and their sealed signing secrets. */
  bridges: MemoryBridgeStorage;
  quotas: MemoryQuotaStorage;
  domains: MemoryDomainStorage;
}

/**
 * Builds the engine's adapter, the API credential, webhook and policy storages sharing one audit outbox,
 * so the adapter's `listAuditOutbox` returns the drafts of credential and webhook endpoint writes too (the
 * memory twin of `createMongoStores`).
 * `now` is the credential storage's clock for revocation expiry; `history` bounds what the adapter keeps.
 */
export function createMemoryStores(options: { now?: () => number; history?: MemoryAdapterOptions } = {}): MemoryStores {
  const store = new MemoryAdapter(options.history);
  const credentials = new MemoryCredentialStorage({
    outbox: store.auditOutbox,
    ...(options.now ? { now: options.now } : {}),
  });
  return {
    store,
    credentials,
    webhooks: new MemoryWebhookStorage({ outbox: store.auditOutbox }),
    policies: new MemoryPolicyStorage({ outbox: store.auditOutbox }),
    policyAnalysis: new MemoryPolicyAnalysisStorage(store),
    bridges: new MemoryBridgeStorage({ outbox: store.auditOutbox }),
    quotas: new MemoryQuotaStorage(),
    domains: new MemoryDomainStorage({ outbox: store.auditOutbox }),
  };
}
