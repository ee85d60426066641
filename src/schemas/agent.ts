import { metadata, nullableText, shortText } from './common.js';

const agentFields = {
  name: shortText,
  owner: nullableText,
  description: nullableText,
  model_provider: nullableText,
  model_name: nullableText,
  framework: nullableText,
  metadata,
} as const;

/** Body of creating an agent. */
export const createAgentSchema = {
  $id: 'CreateAgent',
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: agentFields,
} as const;

/** Body of updating an agent; `revoked` is reached only through revoke. */
export const updateAgentSchema = {
  $id: 'UpdateAgent',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { ...agentFields, status: { enum: ['active', 'paused'] } },
} as const;
