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
      summary: `Simulate an authorization (${simulateAuthorizationSchema.$id} fields) or an intent (${intentRequestSchema.$id} fields) with the active policies, or the base and the uploaded org revision named by policy_revision`,
      tag: 'simulate',
      roles: ['enterprise'],
      body: { schema: simulateRequestSchema, validate: true },
      success: { status: 200, schema: simulationResultSchema },
      errors: [402, 404, 422],
      async handle(i) {
        const { type, policy_revision, ...rest } = i.body as {
          type: 'authorization' | 'intent';
          policy_revision?: string;
        };
        const orgId = ownerOf(i);
        // With policy_revision: the base and that uploaded org revision, whatever is active.
        const policies = policy_revision ? await s.policies.simulationPolicies(orgId, policy_revision) : undefined;
        return type === 'authorization'
          ? s.engine.simulate(orgId, rest, policies, actorOf(i))
          : s.engine.simulateIntent(orgId, rest, policies, actorOf(i));
      },
    },
  ];
}
