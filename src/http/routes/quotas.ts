import { orgPlanSchema, orgUsageSchema } from '../../schemas/index.js';
import { ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** The operator's plans and usage of any org; 503 when the server keeps no quota storage. */
export function quotaOperatorRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'put',
      path: '/v1/orgs/:id/plan',
      operationId: 'setOrgPlan',
      summary: "Set an org's plan: decisions per month, agents, webhook endpoints (null: no limit)",
      tag: 'operator',
      roles: ['operator'],
      body: { schema: orgPlanSchema },
      success: { status: 200, schema: orgUsageSchema },
      errors: [404, 422, 503],
      handle: (i) => s.engine.quotas.setPlan(i.params.id as string, i.body),
    },
    {
      method: 'get',
      path: '/v1/orgs/:id/usage',
      operationId: 'getOrgUsageAsOperator',
      summary: "An org's plan and what it has used of it",
      tag: 'operator',
      roles: ['operator'],
      success: { status: 200, schema: orgUsageSchema },
      errors: [404, 503],
      handle: (i) => s.engine.quotas.getUsage(i.params.id as string),
    },
  ];
}

/** The caller's org: its plan and usage; 503 when the server keeps no quota storage. */
export function usageRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/usage',
      operationId: 'getUsage',
      summary: "The caller's org: its plan and what it has used of it this month",
      tag: 'usage',
      roles: ['enterprise'],
      success: { status: 200, schema: orgUsageSchema },
      errors: [503],
      handle: (i) => s.engine.quotas.getUsage(ownerOf(i)),
    },
  ];
}
