export * from './dns-txt.js';
export * from './domain-service.js';
