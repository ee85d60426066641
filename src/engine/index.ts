export { APPROVAL_LINK_PATH, type ApprovalLink, type ApprovalView } from './approvals.js';
export { type Actor, type DraftSpec, entityPayload, SYSTEM_ACTOR } from './audit-drafts.js';
export * from './authorization-lifecycle.js';
export { reservationIdFor } from './authorize.js';
export type { NormalizedAuthorizeRequest } from './authorize-request.js';
export { createdBinding, type MaskedCredential, maskedBinding } from './bindings.js';
export * from './context.js';
export * from './create-engine.js';
export type { IntentResult, IntentView } from './intents.js';
export { DivergenceTally, POLICY_ERROR_DECISION, verdictFromInput } from './policy-comparison.js';
export { withLocalTime } from './policy-input.js';
export {
  PolicyReplays,
  REPLAY_SAMPLE_LIMIT,
  type ReplayPolicies,
  type ReplayStart,
  type ReplayWindow,
  redecide,
  replayAuthorizations,
  SYNC_REPLAY_MAX,
} from './policy-replay.js';
export * from './reason-codes.js';
export {
  type ShadowHooks,
  type ShadowObservation,
  ShadowRecorder,
  type ShadowRecorderOptions,
} from './shadow-recorder.js';
export { SpoolLockedError } from './stand-in-spool.js';
export * from './windows.js';
