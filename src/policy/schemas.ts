import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../util/project-root.js';

/** The file names of the policy contract schemas under policies/schemas/. */
export const POLICY_SCHEMA_FILES = {
  spendInput: 'spend-input.schema.json',
  intentInput: 'intent-input.schema.json',
  decisionOutput: 'decision-output.schema.json',
} as const;

/** Reads one policy contract schema (JSON) from the project's policies/schemas/ folder. */
export function readPolicySchema(name: keyof typeof POLICY_SCHEMA_FILES): Record<string, unknown> {
  const path = join(projectRoot(), 'policies', 'schemas', POLICY_SCHEMA_FILES[name]);
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}
