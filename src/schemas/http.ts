import { simulateAuthorizationSchema } from './authorization.js';
import { resourceId, shortText } from './common.js';
import { intentRequestSchema } from './intent.js';
import { policyRevisionParam } from './policy.js';

/** Longest agent-token lifetime in seconds (24 h). */
export const MAX_AGENT_TOKEN_TTL = 86_400;

const keyId = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: '^[a-z]+(_live|_test)?_[0-9a-z]+$',
} as const;
const compactJws = { type: 'string', minLength: 1, maxLength: 8192 } as const;

/** Body of exchanging an API credential for a session token (also accepted as HTTP Basic). */
export const tokenExchangeSchema = {
  $id: 'TokenExchange',
  type: 'object',
  additionalProperties: false,
  required: ['key_id', 'secret'],
  properties: { key_id: keyId, secret: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

/** Body of creating an API credential; the role follows from the route. */
export const createCredentialSchema = {
  $id: 'CreateCredential',
  type: 'object',
  additionalProperties: false,
  properties: {
    name: shortText,
    mode: {
      enum: ['live', 'test'],
      description:
        "live (default: the caller's mode) or test: a test credential (ek_test_… / pk_test_…) sees and changes only test-mode data. A test credential can only create test credentials.",
    },
    api_key_auth: {
      type: 'boolean',
      default: false,
      description:
        'Also accept x-api-key: <key_id>.<secret> (or Authorization: Bearer <key_id>.<secret>). Off by default: the secret then travels on every request.',
    },
  },
} as const;

/** Longest grace period of a rotated-out secret, in seconds (7 days). */
export const MAX_ROTATION_GRACE_SECONDS = 604_800;
/** Default grace period of a rotated-out secret, in seconds (24 h). */
export const DEFAULT_ROTATION_GRACE_SECONDS = 86_400;

/** Body of rotating a credential's secret. */
export const rotateCredentialSchema = {
  $id: 'RotateCredential',
  type: 'object',
  additionalProperties: false,
  properties: {
    grace_period_seconds: {
      type: 'integer',
      minimum: 0,
      maximum: MAX_ROTATION_GRACE_SECONDS,
      default: DEFAULT_ROTATION_GRACE_SECONDS,
      description:
        "How long the replaced secret keeps working (0: refused at once), judged by the store's clock. Default 24 h.",
    },
  },
} as const;

/** Body of issuing an agent token. */
export const issueAgentTokenSchema = {
  $id: 'IssueAgentToken',
  type: 'object',
  additionalProperties: false,
  required: ['agent_id', 'scope', 'target_service'],
  properties: {
    agent_id: resourceId,
    scope: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
    },
    target_service: { type: 'string', minLength: 1, maxLength: 256 },
    intent: { anyOf: [{ type: 'string', minLength: 1, maxLength: 1000 }, { type: 'null' }] },
    ttl_seconds: { type: 'integer', minimum: 1, maximum: MAX_AGENT_TOKEN_TTL, default: 300 },
  },
} as const;

/** Body of verifying one agent token. */
export const verifyAgentTokenSchema = {
  $id: 'VerifyAgentToken',
  type: 'object',
  additionalProperties: false,
  required: ['token'],
  properties: { token: compactJws },
} as const;

/** Body of verifying up to 100 agent tokens at once. */
export const verifyAgentTokenBatchSchema = {
  $id: 'VerifyAgentTokenBatch',
  type: 'object',
  additionalProperties: false,
  required: ['tokens'],
  properties: { tokens: { type: 'array', minItems: 1, maxItems: 100, items: compactJws } },
} as const;

/** Body of revoking agent tokens: one token (by value, or by jti with its agent_id) or, with agent_id alone, every token of an agent. */
export const revokeAgentTokenSchema = {
  $id: 'RevokeAgentToken',
  type: 'object',
  additionalProperties: false,
  anyOf: [{ required: ['token'] }, { required: ['agent_id'] }],
  properties: { token: compactJws, jti: { type: 'string', minLength: 1, maxLength: 64 }, agent_id: resourceId },
} as const;

/** `schema` with every `default` removed: ajv applies no default inside `oneOf`, and strict mode refuses them there. */
function withoutDefaults(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDefaults);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) if (k !== 'default') out[k] = withoutDefaults(v);
  return out;
}

/** A request body schema plus the `type` that selects it in a simulation. */
function simulationVariant(
  type: string,
  schema: { $id: string; required: readonly string[]; properties: object },
): Record<string, unknown> {
  const { $id: _id, ...rest } = schema;
  return withoutDefaults({
    ...rest,
    required: ['type', ...schema.required],
    properties: {
      type: { const: type },
      policy_revision: {
        ...policyRevisionParam,
        description:
          "An uploaded org revision to layer on the base policy for this simulation (default: the org's active one).",
      },
      ...schema.properties,
    },
  }) as Record<string, unknown>;
}

/**
 * Body of a simulation: `type` picks an authorization or an intent; the rest is that request's body. The
 * defaults of those bodies are applied by the engine, which validates the rest again with its own schema.
 */
export const simulateRequestSchema = {
  $id: 'SimulateRequest',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['authorization', 'intent'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [
    simulationVariant('authorization', simulateAuthorizationSchema),
    simulationVariant('intent', intentRequestSchema),
  ],
  description:
    'With type "authorization": the fields of SimulateAuthorization. With type "intent": the fields of IntentRequest.',
} as const;

/** Query of every list endpoint. */
export const listQuerySchema = {
  $id: 'ListQueryParams',
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    cursor: { type: 'string', minLength: 1, maxLength: 256 },
    status: { type: 'string', minLength: 1, maxLength: 32 },
    agent_id: resourceId,
  },
} as const;
