import { ajv } from '../schemas/index.js';
import { readPolicySchema } from './schemas.js';
import type { PolicyDecision } from './types.js';

const validate = ajv.compile<PolicyDecision>(readPolicySchema('decisionOutput'));

/**
 * Checks a raw policy result against decision-output.schema.json (compiled once at load, with the
 * project's one ajv instance). Returns undefined when it is valid, else a short description of the
 * first problem.
 */
export function decisionProblem(value: unknown): string | undefined {
  if (validate(value)) return undefined;
  const first = validate.errors?.[0];
  return first === undefined ? 'invalid decision' : `${first.instancePath || '/'} ${first.message ?? 'is invalid'}`;
}
