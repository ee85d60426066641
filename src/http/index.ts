export * from './client-error.js';
export * from './create-app.js';
export * from './graceful.js';
export * from './logger.js';
export * from './metrics.js';
export { createAppServer } from './start-server.js';
export type * from './types.js';
