import { country, currency, mcc, nullableCount, nullableLimit, resourceId, stringList, time } from './common.js';

const limits = {
  type: 'object',
  additionalProperties: false,
  properties: {
    per_transaction: nullableLimit,
    daily: nullableLimit,
    weekly: nullableLimit,
    monthly: nullableLimit,
    total: nullableLimit,
  },
} as const;

const velocity = {
  type: 'object',
  additionalProperties: false,
  description: 'Maximum number of approved transactions per window.',
  properties: { daily: nullableCount, weekly: nullableCount, monthly: nullableCount, total: nullableCount },
} as const;

const merchantRules = {
  type: 'object',
  additionalProperties: false,
  properties: {
    allow_mcc: stringList(mcc),
    block_mcc: stringList(mcc),
    allow_merchant_ids: stringList({ type: 'string', minLength: 1, maxLength: 128 }),
    block_merchant_ids: stringList({ type: 'string', minLength: 1, maxLength: 128 }),
    allow_countries: stringList(country),
  },
} as const;

const ruleFields = {
  time_zone: { type: 'string', minLength: 1, maxLength: 64, description: 'IANA time zone of the calendar windows.' },
  limits,
  velocity,
  merchant_rules: merchantRules,
  valid_from: { anyOf: [time, { type: 'null' }] },
  valid_until: { anyOf: [time, { type: 'null' }] },
  step_up_above: nullableLimit,
  require_intent: { type: 'boolean' },
  partial_approval: { type: 'boolean' },
  hold_period_seconds: {
    anyOf: [{ type: 'integer', minimum: 3600, maximum: 31 * 24 * 3600 }, { type: 'null' }],
    description:
      "How long an approval's hold lasts before it expires and its budget is given back: 1 hour to 31 days; null (the default) for the server's hold period (7 days).",
  },
  stand_in: {
    type: 'object',
    additionalProperties: false,
    required: ['action'],
    description:
      'The answer when the store is unavailable or the authorize deadline runs out: DENY (the default), or ALLOW_UP_TO approving requests of at most max_amount (required with ALLOW_UP_TO).',
    properties: {
      action: { enum: ['DENY', 'ALLOW_UP_TO'] },
      max_amount: { anyOf: [{ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }, { type: 'null' }] },
    },
  },
} as const;

/** Body of granting a spending authority to an agent. */
export const createAuthoritySchema = {
  $id: 'CreateAuthority',
  type: 'object',
  additionalProperties: false,
  required: ['agent_id', 'currency'],
  properties: { agent_id: resourceId, currency, ...ruleFields },
} as const;

/** Body of changing an authority; the agent and currency are fixed for its life. */
export const updateAuthoritySchema = {
  $id: 'UpdateAuthority',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { ...ruleFields, status: { enum: ['active', 'paused'] } },
} as const;
