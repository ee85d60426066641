export {
  AUDIT_DRAFTS_FIELD,
  AUDIT_KEY_FIELD,
  AUDIT_PENDING_INDEX,
  PENDING_DRAFT_GRACE_MS,
  TOMBSTONE_FIELD,
} from './audit-outbox.js';
export { COLLECTION_NAMES, DRAFT_CARRIERS, indexPlan } from './collections.js';
export type { ConnectionOptions } from './connection.js';
export { createMongoAdapter, createMongoStores, type MongoStores } from './create-mongo-adapter.js';
export { MongoAdapter, type MongoAdapterOptions, mongoParts } from './mongo-adapter.js';
export { MongoAuditStorage } from './mongo-audit-storage.js';
export { MongoAuthorizationStorage } from './mongo-authorization-storage.js';
export { DRAFT_CARRIER_NAMES, MongoBackend } from './mongo-backend.js';
export { BRIDGE_COLLECTION_NAME, BRIDGE_DRAFT_CARRIERS, MongoBridgeStorage } from './mongo-bridge-storage.js';
export {
  CREDENTIAL_COLLECTION_NAMES,
  createMongoCredentialStorage,
  credentialIndexPlan,
  MongoCredentialStorage,
  type MongoCredentialStorageOptions,
} from './mongo-credential-storage.js';
export { DOMAIN_COLLECTION_NAME, DOMAIN_DRAFT_CARRIERS, MongoDomainStorage } from './mongo-domain-storage.js';
export { MongoEntityStorage } from './mongo-entity-storage.js';
export { MongoLifecycle } from './mongo-lifecycle.js';
export {
  MongoPolicyAnalysisStorage,
  POLICY_ANALYSIS_COLLECTION_NAMES,
  POLICY_ANALYSIS_DRAFT_CARRIERS,
  policyAnalysisIndexPlan,
} from './mongo-policy-analysis-storage.js';
export {
  MongoPolicyStorage,
  POLICY_COLLECTION_NAMES,
  POLICY_DRAFT_CARRIERS,
  policyIndexPlan,
} from './mongo-policy-storage.js';
export { MongoQuotaStorage, QUOTA_COLLECTION_NAME } from './mongo-quota-storage.js';
export { MongoUsageLedger } from './mongo-usage-ledger.js';
export {
  createMongoWebhookStorage,
  MongoWebhookStorage,
  type MongoWebhookStorageOptions,
  WEBHOOK_COLLECTION_NAMES,
  WEBHOOK_DRAFT_CARRIERS,
  webhookIndexPlan,
} from './mongo-webhook-storage.js';
export { toStorageError } from './storage-errors.js';
export { decodeKey, encodeKey } from './stored-document.js';
export {
  type HoldRecordState,
  holdKey,
  holdRecordState,
  MOVE_AT,
  readUsage,
  SWEEP_AT,
  type UsageState,
  usageKey,
} from './usage-ledger.js';
