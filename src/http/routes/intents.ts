import {
  intentRequestSchema,
  intentResultSchema,
  intentSchema,
  listQuerySchema,
  pageSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Intents of the caller's org. */
export function intentRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  return [
    {
      method: 'post',
      path: '/v1/intents',
      operationId: 'validateIntent',
      summary: 'Validate what an agent intends to buy; returns the decision and a signed mandate',
      tag: 'intents',
      roles: ['enterprise'],
      body: { schema: intentRequestSchema },
      success: { status: 201, schema: intentResultSchema },
      errors: [404, 422],
      handle: (i) => e.validateIntent(ownerOf(i), i.body, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/intents',
      operationId: 'listIntents',
      summary: 'List intents; filter by status or agent_id',
      tag: 'intents',
      roles: ['enterprise'],
      query: listQuerySchema,
      success: { status: 200, schema: pageSchema('Intent') },
      handle: (i) => e.listIntents(ownerOf(i), i.query),
    },
    {
      method: 'get',
      path: '/v1/intents/:id',
      operationId: 'getIntent',
      summary: 'Get an intent',
      tag: 'intents',
      roles: ['enterprise'],
      success: { status: 200, schema: intentSchema },
      errors: [404],
      handle: (i) => e.getIntent(ownerOf(i), i.params.id as string),
    },
    {
      method: 'post',
      path: '/v1/intents/:id/approve',
      operationId: 'approveIntent',
      summary: 'Approve a pending intent (after a STEP_UP); returns the new mandate',
      tag: 'intents',
      roles: ['enterprise'],
      success: { status: 200, schema: intentResultSchema },
      errors: [404, 409],
      handle: (i) => e.approveIntent(ownerOf(i), i.params.id as string, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/intents/:id/cancel',
      operationId: 'cancelIntent',
      summary: 'Cancel an approved or pending intent',
      tag: 'intents',
      roles: ['enterprise'],
      success: { status: 200, schema: intentResultSchema },
      errors: [404, 409],
      handle: (i) => e.cancelIntent(ownerOf(i), i.params.id as string, actorOf(i)),
    },
  ];
}
