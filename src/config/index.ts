export * from './config.js';
export * from './signing-keys.js';
