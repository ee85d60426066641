export * from './create-app.js';
export * from './logger.js';
export * from './metrics.js';
export type * from './types.js';
