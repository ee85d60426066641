export { COLLECTION_NAMES, indexPlan } from './collections.js';
export type { ConnectionOptions } from './connection.js';
export { createMongoAdapter, createMongoStores, type MongoStores } from './create-mongo-adapter.js';
export { MongoAdapter, type MongoAdapterOptions } from './mongo-adapter.js';
export {
  CREDENTIAL_COLLECTION_NAMES,
  createMongoCredentialStorage,
  credentialIndexPlan,
  MongoCredentialStorage,
  type MongoCredentialStorageOptions,
} from './mongo-credential-storage.js';
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
