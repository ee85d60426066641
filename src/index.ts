export * from './crypto/index.js';
export * from './engine/index.js';
export * from './errors/index.js';
export * from './policy/index.js';
export * from './policy-build/index.js';
export * from './storage/index.js';
export type * from './types.js';
export { type Clock, ManualClock, systemClock } from './util/clock.js';
