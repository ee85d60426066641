export * from './config.js';
export * from './data-dir-keys.js';
export * from './signing-keys.js';
export * from './trusted-proxies.js';
export * from './webhook-config.js';
