import { createHash } from 'node:crypto';
import type { AuditEvent } from '../audit/types.js';
import type { WebhookDelivery, WebhookEndpoint } from '../storage/index.js';
import { isoTime } from '../util/clock.js';

/** Id prefix of webhook endpoints; part of the API. */
export const WEBHOOK_ID_PREFIX = 'whk';
/** Id prefix of webhook deliveries; part of the API. */
export const DELIVERY_ID_PREFIX = 'whd';
/** The subscription to every event type. */
export const ALL_EVENTS = '*';

/**
 * The id of the delivery of one event to one endpoint: a function of both ids, so fanning an event out
 * twice (a crash before the cursor moved, two dispatchers) names the same delivery and inserts it once.
 */
export function deliveryId(endpointId: string, eventId: string): string {
  const digest = createHash('sha256').update(`${endpointId}\u0000${eventId}`, 'utf8').digest('hex');
  return `${DELIVERY_ID_PREFIX}_${digest.slice(0, 32)}`;
}

/** True when an endpoint subscribed to events of this type. */
export function subscribes(endpoint: Pick<WebhookEndpoint, 'events'>, type: string): boolean {
  return endpoint.events.includes(ALL_EVENTS) || endpoint.events.includes(type);
}

/**
 * The body of a delivery: `{id, type, created_at, org_id, seq, data}` where `id` is the audit event id (the
 * receiver's deduplication key), `created_at` when the change happened, and `data` the event payload with
 * its `subject` and `agent_id`.
 */
export function deliveryBody(event: AuditEvent): Record<string, unknown> {
  return {
    id: event.id,
    type: event.type,
    created_at: event.at,
    org_id: event.org_id,
    seq: event.seq,
    data: { ...event.payload, subject: event.subject, agent_id: event.agent_id },
  };
}

/** A new pending delivery of `event` to `endpoint`, due at once. */
export function newDelivery(endpoint: WebhookEndpoint, event: AuditEvent, nowMs: number): WebhookDelivery {
  const now = isoTime(nowMs);
  return {
    id: deliveryId(endpoint.id, event.id),
    org_id: endpoint.org_id,
    endpoint_id: endpoint.id,
    event_id: event.id,
    event_type: event.type,
    event_seq: event.seq,
    payload: deliveryBody(event),
    status: 'pending',
    attempts: 0,
    attempt_log: [],
    next_attempt_at: now,
    delivered_at: null,
    created_at: now,
    updated_at: now,
    version: 0,
  };
}

/**
 * The wait after failed attempt number `attempt` (1 for the first): exponential backoff with full jitter,
 * a uniform draw from [0, min(cap, base · 2^(attempt-1))], so retries of many deliveries spread out.
 */
export function backoffDelayMs(
  attempt: number,
  options: { baseMs: number; capMs: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  return Math.round(random() * ceiling);
}
