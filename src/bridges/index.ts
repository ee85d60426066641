export * from './bridge-service.js';
export * from './bridge-storage.js';
export * from './lithic-asa.js';
export * from './stripe-issuing.js';
