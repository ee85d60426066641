import { livemodeField, responseTypes } from './common.js';

const { str, nullableStr, int, time, nullableTime } = responseTypes;

/** A policy revision in a path or body: a bundle's manifest revision. */
export const policyRevisionParam = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
  description: "The bundle's manifest revision (letters, digits, '.', '_', '-'; at most 128).",
} as const;

/** An uploaded org policy bundle. */
export const policySchema = {
  $id: 'Policy',
  type: 'object',
  required: [
    'revision',
    'org_id',
    'status',
    'sha256',
    'size_bytes',
    'entrypoints',
    'uploaded_at',
    'uploaded_by',
    'activated_at',
  ],
  properties: {
    revision: str,
    org_id: str,
    livemode: livemodeField,
    status: { enum: ['inactive', 'active', 'shadow', 'retired'] },
    sha256: { ...str, description: 'Lower-case hex SHA-256 of the uploaded archive.' },
    size_bytes: int,
    entrypoints: { type: 'array', items: str },
    uploaded_at: time,
    uploaded_by: { ...str, description: 'Key id of the credential that uploaded it.' },
    activated_at: { ...nullableTime, description: 'When it became active, while it is active; else null.' },
  },
} as const;

const stateProperties = {
  active_revision: { ...nullableStr, description: "The org's active revision; null: the base policy alone decides." },
  shadow_revision: { ...nullableStr, description: 'The revision evaluated beside the active one, or null.' },
  previous_revision: {
    ...nullableStr,
    description: 'Where a rollback goes: the previous active revision; null when that was base only or there is none.',
  },
  rollback_available: { type: 'boolean', description: 'True when POST /v1/policies/rollback has somewhere to go.' },
} as const;

/** GET /v1/policies. */
export const policyListSchema = {
  $id: 'PolicyList',
  type: 'object',
  required: ['items', 'next_cursor', 'active_revision', 'shadow_revision', 'previous_revision', 'rollback_available'],
  properties: { items: { type: 'array', items: { $ref: 'Policy' } }, next_cursor: nullableStr, ...stateProperties },
} as const;

/** The org's policy state after a promotion, rollback or shadow change. */
export const policyStateSchema = {
  $id: 'PolicyState',
  type: 'object',
  required: ['active_revision', 'shadow_revision', 'previous_revision', 'rollback_available', 'activated_at'],
  properties: { ...stateProperties, activated_at: nullableTime },
} as const;

/** GET /v1/base-policy. */
export const basePolicySchema = {
  $id: 'BasePolicy',
  type: 'object',
  required: ['revision', 'sha256', 'activated_at'],
  properties: {
    revision: str,
    sha256: nullableStr,
    activated_at: { ...nullableTime, description: 'Null for the bundle the server started with.' },
  },
} as const;

/** Query of GET /v1/policies. */
export const policyListQuerySchema = {
  $id: 'PolicyListQuery',
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    cursor: { type: 'string', minLength: 1, maxLength: 256 },
  },
} as const;

/** Body of PUT /v1/policy-signing-key. */
export const policySigningKeySchema = {
  $id: 'PolicySigningKey',
  type: 'object',
  additionalProperties: false,
  required: ['public_key'],
  properties: {
    public_key: {
      anyOf: [{ type: 'string', minLength: 1, maxLength: 16_384 }, { type: 'null' }],
      description:
        'PEM public key (SPKI) that must have signed every bundle the org uploads from now on (OPA .signatures.json); null accepts unsigned bundles again.',
    },
  },
} as const;

/** What PUT /v1/policy-signing-key returns. */
export const policySigningKeyStateSchema = {
  $id: 'PolicySigningKeyState',
  type: 'object',
  required: ['signatures_required', 'public_key'],
  properties: { signatures_required: { type: 'boolean' }, public_key: nullableStr },
} as const;
