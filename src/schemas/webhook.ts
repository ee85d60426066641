import { AUDIT_EVENT_TYPES } from '../audit/event-types.js';
import { livemodeField, responseTypes } from './common.js';

/** What `events` of a webhook may name: audit event types, or `*` for all of them. */
export const WEBHOOK_EVENT_NAMES = ['*', ...AUDIT_EVENT_TYPES] as const;

const { str, nullableStr, int, nullableInt, time, nullableTime } = responseTypes;
const paging = {
  limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
  cursor: { type: 'string', minLength: 1, maxLength: 256 },
} as const;

/** Body of registering a webhook endpoint. */
export const createWebhookSchema = {
  $id: 'CreateWebhook',
  type: 'object',
  additionalProperties: false,
  required: ['url', 'events'],
  properties: {
    url: {
      type: 'string',
      format: 'uri',
      pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]',
      minLength: 1,
      maxLength: 2048,
      description:
        'https URL of the receiver (http only where the server allows it). Its host must resolve to public addresses only, unless the server allows private targets; no user info, no fragment.',
    },
    events: {
      type: 'array',
      minItems: 1,
      maxItems: WEBHOOK_EVENT_NAMES.length,
      uniqueItems: true,
      items: { enum: [...WEBHOOK_EVENT_NAMES] },
      description: 'Audit event types to deliver, or "*" for every type.',
    },
    description: { anyOf: [{ type: 'string', maxLength: 200 }, { type: 'null' }] },
  },
} as const;

/** Query of listing webhook endpoints. */
export const webhookListQuerySchema = {
  $id: 'WebhookListQueryParams',
  type: 'object',
  additionalProperties: false,
  properties: { ...paging, status: { enum: ['active', 'disabled'] } },
} as const;

/** Query of an endpoint's delivery log. */
export const webhookDeliveryQuerySchema = {
  $id: 'WebhookDeliveryQueryParams',
  type: 'object',
  additionalProperties: false,
  properties: { ...paging, status: { enum: ['pending', 'delivering', 'delivered', 'failed'] } },
} as const;

const webhookProperties = {
  id: str,
  org_id: str,
  livemode: livemodeField,
  url: str,
  events: { type: 'array', items: str },
  description: nullableStr,
  status: {
    enum: ['active', 'disabled'],
    description: 'disabled: too many failed deliveries in a row; it gets no more deliveries.',
  },
  secret: { type: 'string', description: 'Masked: only the last four characters are shown.' },
  consecutive_failures: { type: 'integer', description: 'Deliveries in a row that failed; a success resets it.' },
  disabled_at: nullableTime,
  created_at: time,
  updated_at: time,
} as const;

/** A webhook endpoint as listed: the secret is masked. */
export const webhookSchema = {
  $id: 'Webhook',
  type: 'object',
  required: Object.keys(webhookProperties),
  properties: webhookProperties,
} as const;

/** A newly registered webhook endpoint: the only response that carries its signing secret. */
export const createdWebhookSchema = {
  $id: 'CreatedWebhook',
  type: 'object',
  required: Object.keys(webhookProperties),
  properties: {
    ...webhookProperties,
    secret: {
      type: 'string',
      description:
        'Shown once; store it now. Deliveries carry Allowance-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 keyed with this secret over "<t>.<body>">.',
    },
  },
} as const;

const attemptSchema = {
  type: 'object',
  required: ['at', 'status_code', 'error', 'duration_ms'],
  properties: { at: time, status_code: nullableInt, error: nullableStr, duration_ms: int },
} as const;

const deliveryProperties = {
  id: str,
  endpoint_id: str,
  event_id: { type: 'string', description: 'The audit event delivered; the body `id` and Allowance-Event-Id.' },
  event_type: str,
  event_seq: int,
  status: { enum: ['pending', 'delivering', 'delivered', 'failed'] },
  attempts: int,
  attempt_log: { type: 'array', items: attemptSchema },
  next_attempt_at: nullableTime,
  delivered_at: nullableTime,
  created_at: time,
  updated_at: time,
} as const;

/** One event's delivery to one endpoint, with its attempts. */
export const webhookDeliverySchema = {
  $id: 'WebhookDelivery',
  type: 'object',
  required: Object.keys(deliveryProperties),
  properties: deliveryProperties,
} as const;
