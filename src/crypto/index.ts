export * from './jws.js';
export * from './secret-box.js';
export * from './signing-keys.js';
