import { credentialsGroup } from './groups/credentials.js';
import { crudGroup } from './groups/crud.js';
import { errorsGroup } from './groups/errors.js';
import { idempotencyGroup } from './groups/idempotency.js';
import { intentsGroup } from './groups/intents.js';
import { lookupsGroup } from './groups/lookups.js';
import { paginationGroup } from './groups/pagination.js';
import { reservationsGroup } from './groups/reservations.js';
import { tenancyGroup } from './groups/tenancy.js';
import type { ConformanceGroup, GroupName } from './types.js';

/**
 * Every group of the suite, in run order.
 *
 * Extension point: the audit chain (append to an org's chain only on top of its current head,
 * DESIGN §5) gets its own group once the contract has the method. To add it: add `'audit'` to
 * `GroupName`, write `groups/audit.ts` exporting a `ConformanceGroup` (cases get a fresh target and
 * may use `inspect` to read the chain directly; add a reader to `DirectInspector` if needed), and list
 * it here. Adapters that cannot pass it yet opt out with `skip: ['audit']`.
 */
export const GROUPS: Readonly<Record<GroupName, ConformanceGroup>> = {
  crud: crudGroup,
  lookups: lookupsGroup,
  pagination: paginationGroup,
  tenancy: tenancyGroup,
  idempotency: idempotencyGroup,
  reservations: reservationsGroup,
  intents: intentsGroup,
  errors: errorsGroup,
  credentials: credentialsGroup,
};
