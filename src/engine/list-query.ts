import { compileValidator } from '../schemas/index.js';
import type { ListQuery } from '../storage/index.js';
import { cloneInput } from './clone-input.js';

const validateList = compileValidator<{ limit: number; cursor?: string; status?: string; agent_id?: string }>({
  $id: 'ListQuery',
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    cursor: { type: 'string', minLength: 1, maxLength: 256 },
    status: { type: 'string', minLength: 1, maxLength: 32 },
    agent_id: { type: 'string', minLength: 1, maxLength: 64 },
  },
});

/** Validates paging and filter options of a list call (`validation_failed` otherwise). */
export function parseListQuery(query: unknown = {}): ListQuery {
  return validateList(cloneInput(query ?? {}));
}
