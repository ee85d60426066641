import { currency, merchant, resourceId } from './common.js';

const authorizeProperties = {
  authorization_id: {
    type: 'string',
    minLength: 1,
    maxLength: 128,
    pattern: '^[\\x21-\\x7e]+$',
    description: "The processor's id of the payment: the idempotency key, unique per processor.",
  },
  credential_reference: { type: 'string', minLength: 1, maxLength: 128 },
  binding_id: resourceId,
  amount: {
    type: 'integer',
    minimum: -1_000_000_000_000_000,
    maximum: 1_000_000_000_000_000,
    description: 'Minor units. Zero or negative is answered with a DENY (amount_invalid).',
  },
  currency,
  merchant,
  channel: { enum: ['online', 'in_store', 'recurring'], default: 'online' },
  intent_id: resourceId,
  approval_id: {
    ...resourceId,
    description:
      "A human approval of an earlier STEP_UP (its decision's approval_id): approved only for the approved amount or less, the same merchant and agent, once, before the approval expires.",
  },
  partial_approval_supported: { type: 'boolean', default: false },
} as const;

/** Body of a processor's real-time authorization request. */
export const authorizeRequestSchema = {
  $id: 'AuthorizeRequest',
  type: 'object',
  additionalProperties: false,
  required: ['authorization_id', 'amount', 'currency', 'merchant'],
  oneOf: [{ required: ['credential_reference'] }, { required: ['binding_id'] }],
  properties: authorizeProperties,
} as const;

/** Body of capturing an approved authorization; amount defaults to the approved amount. */
export const captureRequestSchema = {
  $id: 'CaptureRequest',
  type: 'object',
  additionalProperties: false,
  properties: { amount: { type: 'integer', minimum: 1, maximum: 1_000_000_000_000_000 } },
} as const;

/**
 * One processor transaction settling against an authorization (a capture among several, or a refund): its
 * id at the processor (each is applied once) and its amount in minor units.
 */
export const settlementRequestSchema = {
  $id: 'SettlementRequest',
  type: 'object',
  additionalProperties: false,
  required: ['settlement_id', 'amount'],
  properties: {
    settlement_id: { type: 'string', minLength: 1, maxLength: 255 },
    amount: { type: 'integer', minimum: 1, maximum: 1_000_000_000_000_000 },
  },
} as const;

/** Body of simulating an authorization on behalf of a processor, with no side effect. */
export const simulateAuthorizationSchema = {
  $id: 'SimulateAuthorization',
  type: 'object',
  additionalProperties: false,
  required: ['authorization_id', 'amount', 'currency', 'merchant', 'processor_id'],
  oneOf: [{ required: ['credential_reference'] }, { required: ['binding_id'] }],
  properties: { ...authorizeProperties, processor_id: resourceId },
} as const;

/** Query of reading one authorization by its authorization_id. */
export const orgAuthorizationQuerySchema = {
  $id: 'AuthorizationGetQuery',
  type: 'object',
  additionalProperties: false,
  properties: {
    processor_id: {
      ...resourceId,
      description:
        'Enterprise: the processor of the authorization, needed only when several processors used the same authorization_id for the org. A processor reads only its own.',
    },
  },
} as const;

/** Body of an incremental authorization: raise an approved authorization's open hold by `amount`. */
export const incrementRequestSchema = {
  $id: 'IncrementRequest',
  type: 'object',
  additionalProperties: false,
  required: ['increment_id', 'amount'],
  properties: {
    increment_id: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      pattern: '^[\\x21-\\x7e]+$',
      description: "The processor's id of the increment: the idempotency key, unique per authorization.",
    },
    amount: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000_000_000_000,
      description: 'How much more to hold, in minor units.',
    },
  },
} as const;
