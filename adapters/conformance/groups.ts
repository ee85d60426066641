import { approvalsGroup } from './groups/approvals.js';
import { auditGroup } from './groups/audit.js';
import { credentialsGroup } from './groups/credentials.js';
import { crudGroup } from './groups/crud.js';
import { domainsGroup } from './groups/domains.js';
import { errorsGroup } from './groups/errors.js';
import { idempotencyGroup } from './groups/idempotency.js';
import { intentsGroup } from './groups/intents.js';
import { lookupsGroup } from './groups/lookups.js';
import { paginationGroup } from './groups/pagination.js';
import { policiesGroup } from './groups/policies.js';
import { policyAnalysisGroup } from './groups/policy-analysis.js';
import { quotasGroup } from './groups/quotas.js';
import { reservationsGroup } from './groups/reservations.js';
import { tenancyGroup } from './groups/tenancy.js';
import type { Concern, ConformanceGroup, GroupName } from './types.js';

/**
 * The groups of each storage contract (`src/storage`): `entities` (EntityStorage: CRUD, lookups, pages,
 * tenancy, error kinds, intent consumption), `authorizations` (AuthorizationStorage: the idempotency claim; approvals and an org's reads by id),
 * `ledger` (UsageLedger: reservations), `audit` (AuditStorage: outbox and chain), and one concern per
 * separate storage of a backend (`credentials`, `policies`, `policy_analysis`, `quotas`, `domains`).
 */
export const CONCERNS: Readonly<Record<Concern, readonly GroupName[]>> = {
  entities: ['crud', 'lookups', 'pagination', 'tenancy', 'intents', 'errors'],
  authorizations: ['idempotency', 'approvals'],
  ledger: ['reservations'],
  audit: ['audit'],
  credentials: ['credentials'],
  policies: ['policies'],
  policy_analysis: ['policy_analysis'],
  quotas: ['quotas'],
  domains: ['domains'],
};

/**
 * Every group of the suite, in run order. `audit` covers the audit outbox (drafts stored atomically with
 * writes, listed oldest first, acknowledged) and the per-org chain (append on a free seq only, reads by seq
 * range and filters); `DirectInspector.auditOutbox`/`auditEvents` let it check the store directly.
 * Adapters that cannot pass a group yet opt out with `skip`.
 */
export const GROUPS: Readonly<Record<GroupName, ConformanceGroup>> = {
  crud: crudGroup,
  lookups: lookupsGroup,
  pagination: paginationGroup,
  tenancy: tenancyGroup,
  idempotency: idempotencyGroup,
  approvals: approvalsGroup,
  reservations: reservationsGroup,
  intents: intentsGroup,
  errors: errorsGroup,
  credentials: credentialsGroup,
  audit: auditGroup,
  policies: policiesGroup,
  policy_analysis: policyAnalysisGroup,
  quotas: quotasGroup,
  domains: domainsGroup,
};
