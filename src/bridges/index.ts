export type { BridgeKind, BridgeRecord, BridgeSecret, BridgeStorage } from '../storage/index.js';
export * from './bridge-service.js';
export * from './lithic-asa.js';
export * from './stripe-issuing.js';
