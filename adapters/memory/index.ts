export { createMemoryStores, type MemoryStores } from './create-memory-stores.js';
export { MemoryAdapter, type MemoryAdapterOptions } from './memory-adapter.js';
export type { AuditEventMutation } from './memory-audit-chain.js';
export { MemoryAuditOutbox } from './memory-audit-outbox.js';
export { MemoryBridgeStorage } from './memory-bridge-storage.js';
export { MemoryCredentialStorage, type MemoryCredentialStorageOptions } from './memory-credential-storage.js';
export { MemoryPolicyAnalysisStorage } from './memory-policy-analysis-storage.js';
export { MemoryPolicyStorage, type MemoryPolicyStorageOptions } from './memory-policy-storage.js';
export { MemoryWebhookStorage, type MemoryWebhookStorageOptions } from './memory-webhook-storage.js';
