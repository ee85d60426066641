export type { BridgeKind, BridgeRecord, BridgeSecret, BridgeStorage } from '../bridges/bridge-storage.js';
export * from './adapter.js';
export * from './credential-storage.js';
export * from './policy-analysis-storage.js';
export * from './policy-storage.js';
export * from './storage-error.js';
export * from './webhook-storage.js';
