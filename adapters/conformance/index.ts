export { isKnownStorageError } from './assertions.js';
export {
  linkAuditEvents,
  makeAgent,
  makeAuditDraft,
  makeAuthority,
  makeAuthorization,
  makeBinding,
  makeCredential,
  makeIntent,
  makeOrg,
  makeProcessor,
  makeReservation,
  makeRevocation,
  orderedId,
  periodsOf,
  timeAt,
} from './fixtures.js';
export { CONCERNS, GROUPS } from './groups.js';
export { runAdapterConformance } from './run-adapter-conformance.js';
export type {
  CaseBody,
  Concern,
  ConformanceGroup,
  ConformanceOptions,
  ConformanceTarget,
  DirectInspector,
  EntityKind,
  GroupBuilder,
  GroupName,
  StoredUsage,
  TestFunction,
  WindowName,
} from './types.js';
