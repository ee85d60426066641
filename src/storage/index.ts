export * from './adapter.js';
export * from './bridge-storage.js';
export * from './credential-storage.js';
export * from './policy-analysis-storage.js';
export * from './policy-storage.js';
export * from './storage-error.js';
export * from './storage-set.js';
export * from './webhook-storage.js';
