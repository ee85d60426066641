import { resourceId } from './common.js';

/** Body of binding a processor credential to an agent and authority. */
export const createBindingSchema = {
  $id: 'CreateBinding',
  type: 'object',
  additionalProperties: false,
  required: ['agent_id', 'authority_id', 'processor_id', 'credential'],
  properties: {
    agent_id: resourceId,
    authority_id: resourceId,
    processor_id: resourceId,
    credential: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'reference'],
      properties: {
        type: { enum: ['card', 'network_token', 'virtual_card', 'bank_account', 'wallet'] },
        reference: { type: 'string', minLength: 1, maxLength: 128 },
        last4: { type: 'string', pattern: '^[0-9]{4}$' },
        fingerprint: { type: 'string', minLength: 1, maxLength: 128 },
      },
    },
  },
} as const;
