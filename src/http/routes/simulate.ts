import {
  intentRequestSchema,
  simulateAuthorizationSchema,
  simulateRequestSchema,
  simulationResultSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** POST /v1/simulate: the decision an authorization or intent would get, with no side effect. */
export function simulateRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/simulate',
      operationId: 'simulate',
      summary: `Simulate an authorization (${simulateAuthorizationSchema.$id} fields) or an intent (${intentRequestSchema.$id} fields) with the active policy`,
      tag: 'simulate',
      roles: ['enterprise'],
      body: { schema: simulateRequestSchema, validate: true },
      success: { status: 200, schema: simulationResultSchema },
      errors: [404, 422],
      handle(i) {
        const { type, ...rest } = i.body as { type: 'authorization' | 'intent' };
        return type === 'authorization'
          ? s.engine.simulate(ownerOf(i), rest, undefined, actorOf(i))
          : s.engine.simulateIntent(ownerOf(i), rest, undefined, actorOf(i));
      },
    },
  ];
}
