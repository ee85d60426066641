import {
  createdWebhookSchema,
  createWebhookSchema,
  pageSchema,
  webhookDeliveryQuerySchema,
  webhookListQuerySchema,
  webhookSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

type PageQuery = { limit: number; cursor?: string; status?: string };

/** Webhook endpoints of the caller's org and their delivery logs (503 when the server has no webhook storage). */
export function webhookRoutes(s: Services): RouteSpec[] {
  const w = s.webhooks;
  return [
    {
      method: 'post',
      path: '/v1/webhooks',
      operationId: 'createWebhook',
      summary: 'Register a webhook endpoint for audit event types (the signing secret is shown once)',
      tag: 'webhooks',
      roles: ['enterprise'],
      body: { schema: createWebhookSchema, validate: true },
      success: { status: 201, schema: createdWebhookSchema },
      errors: [402, 409, 422, 503],
      handle: (i) => w.create(ownerOf(i), i.body, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/webhooks',
      operationId: 'listWebhooks',
      summary: "List the org's webhook endpoints (secrets masked); filter by status",
      tag: 'webhooks',
      roles: ['enterprise'],
      query: webhookListQuerySchema,
      success: { status: 200, schema: pageSchema('Webhook') },
      errors: [503],
      handle: (i) => w.list(ownerOf(i), i.query as PageQuery),
    },
    {
      method: 'get',
      path: '/v1/webhooks/:id',
      operationId: 'getWebhook',
      summary: 'Get a webhook endpoint (secret masked)',
      tag: 'webhooks',
      roles: ['enterprise'],
      success: { status: 200, schema: webhookSchema },
      errors: [404, 503],
      handle: (i) => w.get(ownerOf(i), i.params.id as string),
    },
    {
      method: 'delete',
      path: '/v1/webhooks/:id',
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook endpoint; its pending deliveries are dropped',
      tag: 'webhooks',
      roles: ['enterprise'],
      success: { status: 200, schema: webhookSchema },
      errors: [404, 503],
      handle: (i) => w.delete(ownerOf(i), i.params.id as string, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/webhooks/:id/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: "An endpoint's delivery log with every attempt, newest event first; filter by status",
      tag: 'webhooks',
      roles: ['enterprise'],
      query: webhookDeliveryQuerySchema,
      success: { status: 200, schema: pageSchema('WebhookDelivery') },
      errors: [404, 503],
      handle: (i) => w.deliveries(ownerOf(i), i.params.id as string, i.query as PageQuery),
    },
  ];
}
