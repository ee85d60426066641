/** Schemas of shadow reports and replays (POST /v1/policies/:revision/replay and their responses). */
import { responseTypes, time } from './common.js';

const { str, nullableStr, int, nullableInt, time: respTime, nullableTime } = responseTypes;
const counts = { type: 'object', additionalProperties: int } as const;

/** Body of a replay: the window [from, to) and an optional cap on the decisions replayed (oldest first). */
export const replayRequestSchema = {
  $id: 'PolicyReplayRequest',
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    from: { ...time, description: 'Start of the window (inclusive), RFC 3339.' },
    to: { ...time, description: 'End of the window (exclusive), RFC 3339; after `from`.' },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 10_000_000,
      description: 'Replay at most this many decisions, the oldest of the window first.',
    },
  },
} as const;

const outcome = {
  type: 'object',
  required: ['action', 'reasons', 'approved_amount'],
  properties: {
    action: { enum: ['ALLOW', 'ALLOW_WITH_LIMITS', 'DENY', 'STEP_UP'] },
    reasons: { type: 'array', items: str },
    approved_amount: int,
  },
} as const;

const sample = {
  type: 'object',
  required: [
    'kind',
    'processor_id',
    'authorization_id',
    'intent_id',
    'at',
    'agent_id',
    'merchant_id',
    'active',
    'candidate',
  ],
  description:
    'An authorization (processor_id, authorization_id) or an intent declaration (intent_id; approved_amount is the maximum the intent allows).',
  properties: {
    kind: { enum: ['authorization', 'intent'] },
    processor_id: nullableStr,
    authorization_id: nullableStr,
    intent_id: nullableStr,
    at: respTime,
    agent_id: nullableStr,
    merchant_id: nullableStr,
    active: outcome,
    candidate: outcome,
  },
} as const;

const delta = {
  type: 'object',
  required: ['sum', 'min', 'max'],
  properties: { sum: int, min: nullableInt, max: nullableInt },
  description: 'Candidate minus active approved amount, over the decisions that diverged.',
} as const;

/** GET /v1/policies/:revision/shadow-report. */
export const shadowReportSchema = {
  $id: 'PolicyShadowReport',
  type: 'object',
  required: [
    'revision',
    'active_revision',
    'since',
    'evaluated',
    'diverged',
    'transitions',
    'reasons',
    'approved_amount_delta',
    'samples',
  ],
  properties: {
    revision: str,
    active_revision: { ...nullableStr, description: 'The org revision that decided; null when the base alone did.' },
    since: { ...nullableTime, description: 'First comparison recorded for this revision; null when none yet.' },
    evaluated: int,
    diverged: int,
    transitions: { ...counts, description: 'Diverged decisions by `ACTIVE->CANDIDATE` action.' },
    reasons: { ...counts, description: 'Reason codes the candidate gave that the active side did not.' },
    approved_amount_delta: delta,
    samples: { type: 'array', items: sample, description: 'The latest 50 diverged decisions, oldest first.' },
  },
} as const;

const reportProperties = {
  revision: str,
  from: respTime,
  to: respTime,
  replayed: int,
  changed: int,
  skipped: { ...int, description: 'Authorizations of the window decided before any policy ran (no stored input).' },
  transitions: counts,
  reasons: counts,
  approved_amount_delta: delta,
  top_agents: {
    type: 'array',
    items: { type: 'object', required: ['agent_id', 'changed'], properties: { agent_id: str, changed: int } },
  },
  top_merchants: {
    type: 'array',
    items: { type: 'object', required: ['merchant_id', 'changed'], properties: { merchant_id: str, changed: int } },
  },
  samples: { type: 'array', items: sample },
} as const;

/** A replay report. */
export const replayReportSchema = {
  $id: 'PolicyReplayReport',
  type: 'object',
  required: Object.keys(reportProperties),
  properties: reportProperties,
} as const;

/** A background replay: GET /v1/policy-replays/:id, and the 202 of a large window. */
export const replayJobSchema = {
  $id: 'PolicyReplayJob',
  type: 'object',
  required: ['id', 'revision', 'from', 'to', 'status', 'progress', 'report', 'error'],
  properties: {
    id: str,
    revision: str,
    from: respTime,
    to: respTime,
    status: { enum: ['running', 'completed', 'failed'] },
    progress: { type: 'object', required: ['done', 'total'], properties: { done: int, total: int } },
    report: {
      anyOf: [
        { type: 'null' },
        { type: 'object', required: Object.keys(reportProperties), properties: reportProperties },
      ],
    },
    error: {
      anyOf: [
        { type: 'null' },
        { type: 'object', required: ['code', 'message'], properties: { code: str, message: str } },
      ],
    },
  },
} as const;

/** The 202 of a replay that runs as a job. */
export const replayStartedSchema = {
  $id: 'PolicyReplayStarted',
  type: 'object',
  required: ['id', 'status'],
  properties: { id: str, status: { enum: ['running'] } },
} as const;
