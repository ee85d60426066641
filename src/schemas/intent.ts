import { currency, merchant, minorAmount, resourceId, time } from './common.js';

/** Body of declaring an intent to buy. */
export const intentRequestSchema = {
  $id: 'IntentRequest',
  type: 'object',
  additionalProperties: false,
  required: ['agent_id', 'description', 'max_amount', 'currency', 'expires_at'],
  properties: {
    agent_id: resourceId,
    authority_id: resourceId,
    description: { type: 'string', minLength: 1, maxLength: 1000 },
    max_amount: minorAmount,
    currency,
    merchant,
    expires_at: time,
    single_use: { type: 'boolean', default: true },
  },
} as const;
