import { livemodeField, responseTypes } from './common.js';

const { str, time } = responseTypes;

/** Most rules one revision holds. */
export const MAX_RULES = 200;
/** Most values one list condition holds. */
export const MAX_LIST_VALUES = 500;

function listCondition(item: object, what: string) {
  const list = { type: 'array', minItems: 1, maxItems: MAX_LIST_VALUES, uniqueItems: true, items: item };
  return {
    type: 'object',
    description: `Matches when the payment's ${what} is in the list (\`in\`) or not in it (\`not_in\`); exactly one of the two.`,
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    properties: { in: list, not_in: list },
  };
}

const amount = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const windowName = { enum: ['daily', 'weekly', 'monthly', 'total'] };
const clockTime = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' };
const reason = {
  type: 'string',
  pattern: '^[a-z][a-z0-9_]{0,63}$',
  description: 'Reason code of the decision (lower snake_case; the decision shows it as `policy:<reason>`).',
};

/** The conditions of one rule: every one given must match; none given matches every payment. */
const ruleConditions = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    amount: {
      type: 'object',
      description: 'Amount bounds in minor units, inclusive.',
      additionalProperties: false,
      minProperties: 1,
      properties: { gte: amount, lte: amount },
    },
    currency: listCondition({ type: 'string', pattern: '^[A-Z]{3}$' }, 'currency'),
    mcc: listCondition(
      { type: 'string', pattern: '^[0-9]{4}$' },
      'merchant category code (a merchant without one is in no list)',
    ),
    merchant: listCondition(
      { type: 'string', minLength: 1, maxLength: 128 },
      'merchant id (a merchant without one is in no list)',
    ),
    country: listCondition(
      { type: 'string', pattern: '^[A-Z]{2}$' },
      'merchant country (a merchant without one is in no list)',
    ),
    agent: listCondition({ type: 'string', minLength: 1, maxLength: 128 }, 'agent id'),
    weekdays: {
      type: 'array',
      description: "Local weekdays (the authority's time zone) on which the rule applies.",
      minItems: 1,
      uniqueItems: true,
      items: { enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
    },
    time_of_day: {
      type: 'object',
      description:
        "Local time window (the authority's time zone), `from` inclusive, `to` exclusive, HH:MM; a window whose `to` is not after its `from` runs past midnight (22:00–06:00). `from` and `to` must differ.",
      additionalProperties: false,
      required: ['from', 'to'],
      properties: { from: clockTime, to: clockTime },
    },
    velocity: {
      type: 'object',
      description:
        "The authority's usage of a window, counting this payment: `count_above` n matches from the window's (n+1)th payment on, `spent_above` n once spending with this amount passes n; both given, both must.",
      additionalProperties: false,
      required: ['window'],
      minProperties: 2,
      properties: { window: windowName, count_above: amount, spent_above: amount },
    },
  },
} as const;

/** What a rule does when it decides. */
const ruleAction = {
  type: 'object',
  description:
    '`allow`: stop here, the rules add nothing (the base policy and the engine still decide); `deny`: DENY; `require_approval`: STEP_UP (not for a payment under an approved intent it matches); `throttle`: DENY once the authority already made `rate.count` payments in `rate.window`, else the next rule decides.',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [
    { type: 'object', additionalProperties: false, properties: { type: { const: 'allow' } } },
    { type: 'object', additionalProperties: false, properties: { type: { const: 'deny' }, reason } },
    { type: 'object', additionalProperties: false, properties: { type: { const: 'require_approval' }, reason } },
    {
      type: 'object',
      additionalProperties: false,
      required: ['rate'],
      properties: {
        type: { const: 'throttle' },
        reason,
        rate: {
          type: 'object',
          additionalProperties: false,
          required: ['count', 'window'],
          properties: { count: { type: 'integer', minimum: 1, maximum: 1_000_000 }, window: windowName },
        },
      },
    },
  ],
} as const;

/** One rule. */
export const ruleSchema = {
  $id: 'Rule',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'priority', 'action'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'Unique within the rules.' },
    description: { type: 'string', maxLength: 500 },
    priority: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000,
      description: 'Lower first; equal priorities keep their order in the list.',
    },
    is_active: { type: 'boolean', default: true, description: 'An inactive rule is skipped.' },
    conditions: ruleConditions,
    action: ruleAction,
  },
} as const;

/** PUT /v1/policy-rules. */
export const rulesInputSchema = {
  $id: 'RulesInput',
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: { rules: { type: 'array', maxItems: MAX_RULES, items: { $ref: 'Rule' } } },
} as const;

/** A rules revision: the org's rules over the base policy, an org policy revision like an uploaded bundle. */
export const rulesRevisionSchema = {
  $id: 'RulesRevision',
  type: 'object',
  required: ['revision', 'org_id', 'status', 'base_revision', 'rules', 'uploaded_at', 'uploaded_by'],
  properties: {
    revision: { ...str, description: 'The policy revision: promote, shadow, replay and roll back it as any.' },
    org_id: str,
    livemode: livemodeField,
    status: { enum: ['inactive', 'active', 'shadow', 'retired'] },
    base_revision: { ...str, description: 'The base policy whose WASM evaluates the rules.' },
    rules: { type: 'array', items: { $ref: 'Rule' } },
    uploaded_at: time,
    uploaded_by: str,
  },
} as const;
