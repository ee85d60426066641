export * from './authorization-lifecycle.js';
export { reservationIdFor } from './authorize.js';
export type { NormalizedAuthorizeRequest } from './authorize-request.js';
export { createdBinding, type MaskedCredential, maskedBinding } from './bindings.js';
export * from './context.js';
export * from './create-engine.js';
export type { IntentResult, IntentView } from './intents.js';
export * from './reason-codes.js';
export * from './windows.js';
