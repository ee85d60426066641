import { compileValidator, listQuerySchema } from '../schemas/index.js';
import type { ListQuery } from '../storage/index.js';
import { cloneInput } from './clone-input.js';

const validateList = compileValidator<ListQuery>(listQuerySchema);

/**
 * Validates paging and filter options of a list call (`validation_failed` otherwise), by the schema of the
 * HTTP list endpoints: one set of rules for both.
 */
export function parseListQuery(query: unknown = {}): ListQuery {
  return validateList(cloneInput(query ?? {}));
}
