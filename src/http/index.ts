export * from './create-app.js';
export * from './logger.js';
export * from './metrics.js';
export { parseTrustedProxies, type TrustedProxies } from './middleware/client-address.js';
export { type CredentialLimiter, localCredentialLimiter, RateLimiter } from './middleware/rate-limit.js';
export { type MongoCredentialLimiterOptions, mongoCredentialLimiter } from './middleware/shared-rate-limit.js';
export type * from './types.js';
