/**
 * JSON Schemas of response bodies. They document the API in /openapi.json and the HTTP tests check
 * real responses against them, so they cannot drift from what the server sends.
 */
import { currency, livemodeField, merchant, responseTypes } from './common.js';

const { str, nullableStr, int, nullableInt, time, nullableTime } = responseTypes;
const strings = { type: 'array', items: str } as const;

function object<P extends Record<string, object>>($id: string, properties: P, description?: string) {
  return {
    $id,
    type: 'object',
    required: Object.keys(properties),
    properties,
    ...(description ? { description } : {}),
  } as const;
}

/** The error envelope of every non-2xx response. */
export const errorResponseSchema = object('ErrorResponse', {
  error: {
    type: 'object',
    required: ['code', 'message', 'request_id'],
    properties: {
      code: str,
      message: str,
      reason: {
        enum: [
          'missing_header',
          'invalid_token',
          'token_expired',
          'token_revoked',
          'unknown_key',
          'missing_claim',
          'lifetime_too_long',
          'invalid_credentials',
          'api_key_not_enabled',
        ],
      },
      request_id: str,
      details: {},
    },
  },
});

export const orgSchema = object('Org', {
  id: str,
  name: str,
  status: { enum: ['active', 'suspended'] },
  created_at: time,
});
export const processorSchema = object('Processor', {
  id: str,
  name: str,
  status: { enum: ['active', 'suspended'] },
  created_at: time,
});

/** An API credential as listed: the secret is masked. */
export const credentialSchema = object('Credential', {
  key_id: str,
  name: nullableStr,
  role: { enum: ['enterprise', 'processor', 'operator'] },
  owner_id: nullableStr,
  status: { enum: ['active', 'revoked'] },
  secret: { type: 'string', description: 'Masked: only the last four characters are shown.' },
  livemode: { type: 'boolean', description: 'False for a test-mode credential: it acts on test data only.' },
  api_key_auth: {
    type: 'boolean',
    description: 'Whether x-api-key: <key_id>.<secret> (or Authorization: Bearer <key_id>.<secret>) authenticates it.',
  },
  created_at: time,
  revoked_at: nullableTime,
  last_used_at: nullableTime,
  rotated_at: { ...nullableTime, description: "When the secret was last rotated (the store's clock), or null." },
  previous_secret_expires_at: {
    ...nullableTime,
    description: 'Until when the secret the last rotation replaced is still accepted, or null.',
  },
});

/** A newly created API credential: the only response that carries the secret. */
export const createdCredentialSchema = {
  ...credentialSchema,
  $id: 'CreatedCredential',
  properties: { ...credentialSchema.properties, secret: { type: 'string', description: 'Shown once; store it now.' } },
} as const;

export const sessionTokenSchema = object('SessionToken', {
  access_token: str,
  token_type: { const: 'Bearer' },
  expires_in: int,
});

export const agentSchema = object('Agent', {
  id: str,
  org_id: str,
  livemode: livemodeField,
  name: str,
  owner: nullableStr,
  description: nullableStr,
  model_provider: nullableStr,
  model_name: nullableStr,
  framework: nullableStr,
  status: { enum: ['active', 'paused', 'revoked'] },
  metadata: { type: 'object', additionalProperties: str },
  version: int,
  created_at: time,
  updated_at: time,
});

const limitSet = (keys: string[]) => ({
  type: 'object',
  required: keys,
  properties: Object.fromEntries(keys.map((k) => [k, nullableInt])),
});

export const authoritySchema = object('Authority', {
  id: str,
  org_id: str,
  livemode: livemodeField,
  agent_id: str,
  currency,
  time_zone: str,
  limits: limitSet(['per_transaction', 'daily', 'weekly', 'monthly', 'total']),
  velocity: limitSet(['daily', 'weekly', 'monthly', 'total']),
  merchant_rules: {
    type: 'object',
    properties: {
      allow_mcc: strings,
      block_mcc: strings,
      allow_merchant_ids: strings,
      block_merchant_ids: strings,
      allow_countries: strings,
    },
  },
  valid_from: nullableTime,
  valid_until: nullableTime,
  step_up_above: nullableInt,
  require_intent: { type: 'boolean' },
  partial_approval: { type: 'boolean' },
  hold_period_seconds: nullableInt,
  stand_in: {
    type: 'object',
    required: ['action', 'max_amount'],
    properties: { action: { enum: ['DENY', 'ALLOW_UP_TO'] }, max_amount: nullableInt },
  },
  status: { enum: ['active', 'paused', 'revoked'] },
  version: int,
  created_at: time,
  updated_at: time,
});

const windowUsage = {
  type: 'object',
  required: ['period', 'spent', 'count', 'limit', 'remaining', 'count_limit'],
  properties: {
    period: str,
    spent: int,
    count: int,
    limit: nullableInt,
    remaining: nullableInt,
    count_limit: nullableInt,
  },
} as const;

export const authorityUsageSchema = object('AuthorityUsage', {
  authority_id: str,
  currency,
  time_zone: str,
  windows: {
    type: 'object',
    required: ['daily', 'weekly', 'monthly', 'total'],
    properties: { daily: windowUsage, weekly: windowUsage, monthly: windowUsage, total: windowUsage },
  },
});

const bindingFields = {
  id: str,
  org_id: str,
  livemode: livemodeField,
  agent_id: str,
  authority_id: str,
  processor_id: str,
  status: { enum: ['active', 'suspended', 'revoked'] },
  version: int,
  created_at: time,
  updated_at: time,
} as const;

/**
 * A binding as read back: the credential reference is never shown again after creation, only its last four
 * characters (null for references shorter than 8) and the first 12 hex digits of its SHA-256 (the audit
 * trail's `reference_sha256` starts with them).
 */
export const bindingSchema = object(
  'Binding',
  {
    ...bindingFields,
    credential: {
      type: 'object',
      required: ['type', 'reference_last4', 'reference_sha256_prefix'],
      additionalProperties: false,
      properties: {
        type: str,
        reference_last4: nullableStr,
        reference_sha256_prefix: { type: 'string', pattern: '^[0-9a-f]{12}$' },
        last4: str,
        fingerprint: str,
      },
    },
  },
  'A credential binding; the credential reference itself is shown only once, when the binding is created.',
);

/** The binding as created: the only response that carries the credential reference. */
export const createdBindingSchema = object(
  'CreatedBinding',
  {
    ...bindingFields,
    credential: {
      type: 'object',
      required: ['type', 'reference', 'reference_last4', 'reference_sha256_prefix'],
      additionalProperties: false,
      properties: {
        type: str,
        reference: str,
        reference_last4: nullableStr,
        reference_sha256_prefix: { type: 'string', pattern: '^[0-9a-f]{12}$' },
        last4: str,
        fingerprint: str,
      },
    },
  },
  'The binding just created, with its credential reference: shown this once, never on reads.',
);

const intentStatus = { enum: ['approved', 'denied', 'pending_approval', 'consumed', 'cancelled', 'expired'] } as const;
const action = { enum: ['ALLOW', 'ALLOW_WITH_LIMITS', 'DENY', 'STEP_UP'] } as const;

export const intentSchema = object('Intent', {
  id: str,
  org_id: str,
  livemode: livemodeField,
  agent_id: str,
  authority_id: nullableStr,
  description: str,
  max_amount: int,
  currency,
  merchant,
  expires_at: time,
  single_use: { type: 'boolean' },
  status: intentStatus,
  consumed_amount: int,
  reason_codes: strings,
  policy_revision: str,
  version: int,
  created_at: time,
  updated_at: time,
});

export const intentResultSchema = object(
  'IntentResult',
  { intent: { $ref: 'Intent' }, action, reason_codes: strings, mandate: str },
  'The stored intent, its decision and a signed mandate (compact JWS, EdDSA, key in the JWKS).',
);

export const decisionSchema = object(
  'Decision',
  {
    decision_id: str,
    authorization_id: str,
    processor_id: str,
    action,
    allowed: { type: 'boolean' },
    amount: int,
    approved_amount: int,
    currency,
    reason_codes: strings,
    org_id: nullableStr,
    agent_id: nullableStr,
    authority_id: nullableStr,
    binding_id: nullableStr,
    intent_id: nullableStr,
    livemode: {
      type: 'boolean',
      description:
        'False for a test-mode decision (a test processor credential, on test data); signed like every field.',
    },
    policy_revision: { ...nullableStr, description: 'The base policy revision that decided.' },
    org_policy_revision: {
      ...nullableStr,
      description:
        "The org's own policy revision that also decided (layered on the base); null when the base alone decided.",
    },
    simulated: { type: 'boolean' },
    stand_in: {
      type: 'boolean',
      description: 'True when answered without the store (reason stand_in_store_unavailable).',
    },
    created_at: time,
    expires_at: nullableTime,
    approval_id: {
      ...nullableStr,
      description:
        'A STEP_UP decision: the human approval it opened (GET /v1/approvals/{id}). An approved decision of a request that named an approval: that approval.',
    },
    approval_expires_at: { ...nullableTime, description: 'A STEP_UP decision: when the approval it opened expires.' },
    request_sha256: str,
    audit_event_id: { ...nullableStr, description: 'The audit event recording this decision (GET /v1/audit).' },
    proof: { type: 'string', description: 'Compact JWS (EdDSA) over every other field; key in the JWKS.' },
  },
  'A signed decision.',
);

export const intentSimulationSchema = object('IntentSimulation', {
  action,
  reason_codes: strings,
  status: intentStatus,
  policy_revision: str,
  simulated: { const: true },
});

export const authorizationSchema = object('Authorization', {
  authorization_id: str,
  processor_id: str,
  org_id: nullableStr,
  livemode: livemodeField,
  status: { enum: ['pending', 'approved', 'declined', 'captured', 'reversed', 'expired'] },
  action: nullableStr,
  reason_codes: strings,
  amount: int,
  approved_amount: int,
  captured_amount: int,
  refunded_amount: int,
  currency,
  agent_id: nullableStr,
  authority_id: nullableStr,
  binding_id: nullableStr,
  intent_id: nullableStr,
  decision_id: nullableStr,
  hold_expires_at: nullableTime,
  approval_id: { ...nullableStr, description: 'The approval its STEP_UP opened, or the approval it named and used.' },
  created_at: time,
  updated_at: time,
});

export const agentTokenSchema = object('AgentToken', {
  token: { type: 'string', description: 'Compact JWS (EdDSA), verifiable offline against the JWKS.' },
  token_type: { const: 'Bearer' },
  jti: str,
  agent_id: str,
  scope: strings,
  target_service: str,
  intent: nullableStr,
  iat: int,
  exp: int,
  expires_in: int,
});

const verification = {
  type: 'object',
  required: ['valid'],
  properties: {
    valid: { type: 'boolean' },
    reason: { enum: ['malformed', 'invalid_signature', 'expired', 'revoked', 'agent_revoked', 'not_agent_token'] },
    claims: { type: 'object' },
  },
} as const;

export const agentTokenVerificationSchema = { ...verification, $id: 'AgentTokenVerification' } as const;
export const agentTokenBatchVerificationSchema = object('AgentTokenBatchVerification', {
  results: { type: 'array', items: verification },
});
export const agentTokenRevocationSchema = object('AgentTokenRevocation', {
  revoked: { const: true },
  agent_id: str,
  jti: nullableStr,
});

export const jwksSchema = object('Jwks', {
  keys: {
    type: 'array',
    items: {
      type: 'object',
      required: ['kty', 'crv', 'x', 'kid'],
      properties: { kty: str, crv: str, x: str, kid: str, use: str, alg: str },
    },
  },
});

export const healthSchema = object('Health', { status: str });

/** A page of `itemId` items, newest first. */
export function pageSchema(itemId: string) {
  return object(`${itemId}Page`, { items: { type: 'array', items: { $ref: itemId } }, next_cursor: nullableStr });
}

/** What POST /v1/simulate returns: a simulated decision, or an intent simulation. */
export const simulationResultSchema = {
  $id: 'SimulationResult',
  oneOf: [{ $ref: 'Decision' }, { $ref: 'IntentSimulation' }],
} as const;

const approvalStatus = { enum: ['pending', 'approved', 'declined', 'used', 'expired'] } as const;

export const approvalSchema = object(
  'Approval',
  {
    id: str,
    org_id: str,
    livemode: livemodeField,
    status: approvalStatus,
    amount: { ...int, description: 'What the stepped-up request asked for.' },
    approved_amount: { ...nullableInt, description: 'Set when approved: the most an authorization may use.' },
    currency,
    merchant,
    agent_id: nullableStr,
    authority_id: nullableStr,
    binding_id: nullableStr,
    processor_id: { ...str, description: 'The processor of the stepped-up authorization.' },
    authorization_id: { ...str, description: 'The stepped-up authorization.' },
    reason_codes: { ...strings, description: 'Why the authorization was stepped up.' },
    expires_at: time,
    decided_by: nullableStr,
    decided_at: nullableTime,
    used_by: {
      type: ['object', 'null'],
      required: ['processor_id', 'authorization_id'],
      properties: { processor_id: str, authorization_id: str },
      description: 'The authorization that used it.',
    },
    used_at: nullableTime,
    created_at: time,
  },
  'A human approval opened by a STEP_UP decision. `expired` is also shown for a pending or approved one past expires_at.',
);

export const approvalLinkSchema = object(
  'ApprovalLink',
  {
    approval_id: str,
    link_id: str,
    token: { type: 'string', description: 'Compact JWS (EdDSA) naming the approval and the link; key in the JWKS.' },
    path: { type: 'string', description: 'Where a person opens it: GET shows the approval, POST decides it.' },
    expires_at: time,
  },
  'A signed one-time approval link. Only the latest link of an approval works, once.',
);

export const incrementDecisionSchema = object(
  'IncrementDecision',
  {
    decision_id: str,
    authorization_id: str,
    processor_id: str,
    increment_id: str,
    livemode: { ...livemodeField, description: 'False for a test-mode authorization; signed, like a decision.' },
    action: { enum: ['ALLOW', 'DENY'] },
    allowed: { type: 'boolean' },
    amount: { ...int, description: 'The increment asked for.' },
    approved_amount: { ...int, description: "The authorization's approved amount after it (unchanged when denied)." },
    currency,
    reason_codes: strings,
    org_id: nullableStr,
    authority_id: nullableStr,
    expires_at: { ...nullableTime, description: 'When the hold lapses after it.' },
    created_at: time,
    request_sha256: str,
    proof: { type: 'string', description: 'Compact JWS (EdDSA) over every other field; key in the JWKS.' },
  },
  'The signed answer to an incremental authorization.',
);
