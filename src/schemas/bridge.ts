import { livemodeField, resourceId, responseTypes } from './common.js';

const { str, int, time, nullableTime } = responseTypes;

const signingSecret = {
  type: 'string',
  pattern: '^whsec_[A-Za-z0-9]{8,200}$',
  description: "The endpoint's signing secret as Stripe shows it (whsec_…). Stored sealed, never shown again.",
} as const;

/** How long the secret being replaced by a rotation is still accepted. */
const graceSeconds = {
  type: 'integer',
  minimum: 0,
  maximum: 604_800,
  default: 86_400,
  description: 'How long the secret being replaced is still accepted. Default one day, at most 7 days.',
} as const;

/** Body of connecting an org's processor account: `cardReference` names what a card binding's reference is. */
function registerBridgeSchema<Id extends string, Secret extends object>(
  $id: Id,
  cardReference: string,
  secret: Secret,
) {
  return {
    $id,
    type: 'object',
    additionalProperties: false,
    required: ['processor_id', 'signing_secret'],
    properties: {
      processor_id: {
        ...resourceId,
        description: `The Allowance processor the bridge acts as: bindings of type card of this processor, whose reference is ${cardReference}, resolve the agent.`,
      },
      signing_secret: secret,
    },
  } as const;
}

/** Body of rotating the secret of a bridge. */
function rotateBridgeSchema<Id extends string, Secret extends object>($id: Id, secret: Secret) {
  return {
    $id,
    type: 'object',
    additionalProperties: false,
    required: ['signing_secret'],
    properties: { signing_secret: secret, grace_seconds: graceSeconds },
  } as const;
}

/** Body of connecting an org's Stripe Issuing account. */
export const registerStripeIssuingBridgeSchema = registerBridgeSchema(
  'RegisterStripeIssuingBridge',
  'the Stripe card id (ic_…)',
  signingSecret,
);

/** Body of rotating the signing secret of a Stripe Issuing bridge. */
export const rotateBridgeSecretSchema = rotateBridgeSchema('RotateBridgeSecret', signingSecret);

/** A bridge as the API shows it: secrets masked. */
export const bridgeSchema = {
  $id: 'Bridge',
  type: 'object',
  additionalProperties: false,
  required: ['org_id', 'processor', 'processor_id', 'webhook_path', 'secrets', 'created_at', 'updated_at'],
  properties: {
    org_id: str,
    livemode: livemodeField,
    processor: { enum: ['stripe_issuing', 'lithic_asa', 'lithic_events'] },
    processor_id: str,
    webhook_path: { ...str, description: 'Where the processor posts, relative to the public base URL.' },
    secrets: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'last4', 'created_at', 'expires_at'],
        properties: { id: str, last4: str, created_at: time, expires_at: nullableTime },
      },
    },
    created_at: time,
    updated_at: time,
  },
} as const;

/** What Stripe reads from the answer to `issuing_authorization.request`, and the acknowledgement of other events. */
export const stripeIssuingAnswerSchema = {
  $id: 'StripeIssuingAnswer',
  type: 'object',
  additionalProperties: false,
  properties: {
    approved: { type: 'boolean' },
    amount: int,
    metadata: { type: 'object', additionalProperties: str },
    received: { type: 'boolean' },
    outcome: str,
  },
} as const;

const nullableString = { type: ['string', 'null'], maxLength: 5000 } as const;

/** The parts of a Stripe Issuing event the bridge reads (other fields are ignored). */
export const stripeIssuingEventSchema = {
  $id: 'StripeIssuingEvent',
  type: 'object',
  required: ['id', 'type', 'data'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 255 },
    type: { type: 'string', minLength: 1, maxLength: 255 },
    api_version: nullableString,
    data: {
      type: 'object',
      required: ['object'],
      properties: { object: { type: 'object' } },
    },
  },
} as const;

/** An Issuing authorization as the bridge reads it. */
export const stripeIssuingAuthorizationSchema = {
  $id: 'StripeIssuingAuthorization',
  type: 'object',
  required: ['id', 'card'],
  properties: {
    id: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
    approved: { type: 'boolean' },
    status: { type: 'string', maxLength: 64 },
    amount: { type: 'integer' },
    authorization_method: nullableString,
    card: {
      type: 'object',
      required: ['id'],
      properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
    },
    pending_request: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['amount', 'currency'],
          properties: {
            amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
            currency: { type: 'string', pattern: '^[A-Za-z]{3}$' },
            is_amount_controllable: { type: 'boolean' },
          },
        },
      ],
    },
    merchant_data: {
      type: 'object',
      properties: {
        category_code: nullableString,
        name: nullableString,
        country: nullableString,
        network_id: nullableString,
      },
    },
  },
} as const;

/** An Issuing transaction as the bridge reads it. */
export const stripeIssuingTransactionSchema = {
  $id: 'StripeIssuingTransaction',
  type: 'object',
  required: ['id', 'type', 'amount'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 255 },
    type: { type: 'string', maxLength: 64 },
    amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
    authorization: { type: ['string', 'null'], pattern: '^[\\x21-\\x7e]{1,128}$' },
  },
} as const;

/** The org of a bridge route. */
export const bridgeOrgParam = resourceId;

const lithicSecret = {
  type: 'string',
  pattern: '^(whsec_)?[A-Za-z0-9+/]{16,200}={0,2}$',
  description:
    "The program's ASA HMAC secret as Lithic returns it (base64, with or without the whsec_ prefix). Stored sealed, never shown again.",
} as const;

/** Body of connecting an org's Lithic program (Auth Stream Access, or the transaction event subscription). */
export const registerLithicAsaBridgeSchema = registerBridgeSchema(
  'RegisterLithicAsaBridge',
  'the Lithic card token',
  lithicSecret,
);

/** Body of rotating the secret of a Lithic bridge. */
export const rotateLithicBridgeSecretSchema = rotateBridgeSchema('RotateLithicBridgeSecret', lithicSecret);

/** An Auth Stream Access request as the bridge reads it (Lithic's card authorization; other fields ignored). */
export const lithicAsaRequestSchema = {
  $id: 'LithicAsaRequest',
  type: 'object',
  required: ['token', 'card'],
  properties: {
    token: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
    amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
    authorization_amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
    merchant_currency: { type: 'string', maxLength: 8 },
    cardholder_currency: { type: 'string', maxLength: 8 },
    amounts: {
      type: 'object',
      properties: {
        cardholder: {
          type: 'object',
          required: ['amount', 'currency'],
          properties: {
            amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
            currency: { type: 'string', pattern: '^[A-Za-z]{3}$' },
          },
        },
      },
    },
    card: {
      type: 'object',
      required: ['token'],
      properties: { token: { type: 'string', minLength: 1, maxLength: 128 } },
    },
    merchant: {
      type: 'object',
      properties: {
        acceptor_id: nullableString,
        descriptor: nullableString,
        mcc: nullableString,
        country: nullableString,
      },
    },
    status: { type: 'string', maxLength: 64 },
    pos: {
      type: 'object',
      properties: {
        terminal: {
          type: 'object',
          properties: { partial_approval_capable: { type: 'boolean' }, on_premise: { type: 'boolean' } },
        },
      },
    },
  },
} as const;

/** What Lithic reads from the answer to an ASA request (`allowance` is for the program's logs only). */
export const lithicAsaAnswerSchema = {
  $id: 'LithicAsaAnswer',
  type: 'object',
  additionalProperties: false,
  required: ['token', 'result'],
  properties: {
    token: str,
    result: str,
    approved_amount: int,
    allowance: {
      type: 'object',
      additionalProperties: false,
      required: ['action', 'reason_codes'],
      properties: {
        decision_id: str,
        action: str,
        reason_codes: { type: 'array', items: str },
        proof_sha256: str,
        stand_in: { type: 'boolean' },
      },
    },
  },
} as const;

/** A Lithic transaction event (event subscription) as the bridge reads it. */
export const lithicTransactionEventSchema = {
  $id: 'LithicTransactionEvent',
  type: 'object',
  required: ['event_type', 'token'],
  properties: {
    event_type: { type: 'string', minLength: 1, maxLength: 255 },
    token: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
    status: { type: 'string', maxLength: 64 },
    settled_amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
    events: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['token', 'type'],
        properties: {
          token: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
          type: { type: 'string', maxLength: 64 },
          result: { type: 'string', maxLength: 64 },
          amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
          amounts: {
            type: 'object',
            properties: {
              cardholder: {
                type: 'object',
                properties: {
                  amount: { type: 'integer', minimum: -1_000_000_000_000_000, maximum: 1_000_000_000_000_000 },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

/** The acknowledgement of a processor's follow-up event. */
export const bridgeEventAckSchema = {
  $id: 'BridgeEventAck',
  type: 'object',
  additionalProperties: false,
  required: ['received', 'outcome'],
  properties: { received: { type: 'boolean' }, outcome: str },
} as const;
