import { livemodeField, responseTypes } from './common.js';

const { str, int } = responseTypes;

const limit = {
  anyOf: [{ type: 'integer', minimum: 0, maximum: 1_000_000_000_000 }, { type: 'null' }],
} as const;

/** Body of setting an org's plan (operator): every limit, null for none. */
export const orgPlanSchema = {
  $id: 'OrgPlan',
  type: 'object',
  additionalProperties: false,
  required: ['decisions_per_month', 'agents', 'webhooks'],
  properties: {
    decisions_per_month: {
      ...limit,
      description:
        'Authorization decisions per calendar month (UTC). Past it authorize still answers with a signed decision; the overage is counted, a quota.exceeded event is written once per month, and simulations answer 402.',
    },
    agents: { ...limit, description: 'Agents that are not revoked. Creating one more is 402 quota_exceeded.' },
    webhooks: { ...limit, description: 'Webhook endpoints. Registering one more is 402 quota_exceeded.' },
  },
} as const;

const nullableLimit = { anyOf: [{ type: 'integer' }, { type: 'null' }], description: 'null: no limit.' } as const;
const used = {
  type: 'object',
  required: ['quota', 'used'],
  properties: { quota: nullableLimit, used: int },
} as const;

/** An org's usage of its plan. */
export const orgUsageSchema = {
  $id: 'OrgUsage',
  type: 'object',
  required: ['org_id', 'livemode', 'plan', 'period', 'decisions', 'agents', 'webhooks', 'counted_through_seq'],
  properties: {
    org_id: str,
    livemode: livemodeField,
    plan: {
      type: 'object',
      required: ['decisions_per_month', 'agents', 'webhooks'],
      properties: { decisions_per_month: nullableLimit, agents: nullableLimit, webhooks: nullableLimit },
    },
    period: { type: 'string', description: 'The current calendar month (UTC), YYYY-MM.' },
    decisions: {
      type: 'object',
      required: ['quota', 'used', 'overage', 'resets_at'],
      properties: {
        quota: nullableLimit,
        used: int,
        overage: {
          type: 'integer',
          description: 'Decisions past the quota this month (issued and signed all the same).',
        },
        resets_at: { type: 'string', format: 'date-time' },
      },
    },
    agents: used,
    webhooks: used,
    counted_through_seq: {
      type: 'integer',
      description: "Decisions are counted from the org's audit chain up to this seq (everything linked when read).",
    },
  },
} as const;
