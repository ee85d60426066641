import { rulesInputSchema, rulesRevisionSchema } from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Rules as data: an org's ordered rules, stored as a draft policy revision over the base policy. */
export function rulesRoutes(s: Services): RouteSpec[] {
  const r = s.rules;
  return [
    {
      method: 'put',
      path: '/v1/policy-rules',
      operationId: 'putPolicyRules',
      summary:
        'Store ordered rules as a draft policy revision over the base policy (201; the same rules over the same base: 200). Then shadow, replay, promote and roll it back with the policy routes. Invalid rules: 422 rules_invalid with details {problem, index, rule_id, path}',
      tag: 'policies',
      roles: ['enterprise'],
      body: { schema: rulesInputSchema },
      success: { status: 201, schema: rulesRevisionSchema, description: 'Stored (200 when it was already there)' },
      errors: [409, 422, 503],
      async handle(i) {
        const { created, rules } = await r.put(ownerOf(i), i.body, actorOf(i));
        if (!created) i.ctx.state.status = 200;
        return rules;
      },
    },
    {
      method: 'get',
      path: '/v1/policy-rules',
      operationId: 'getPolicyRules',
      summary: "The org's newest rules revision (the draft last put), whatever its status",
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: rulesRevisionSchema },
      errors: [404, 503],
      handle: (i) => r.latest(ownerOf(i)),
    },
    {
      method: 'get',
      path: '/v1/policy-rules/:revision',
      operationId: 'getPolicyRulesRevision',
      summary: 'The rules of one of the org’s rules revisions',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: rulesRevisionSchema },
      errors: [404, 503],
      handle: (i) => r.get(ownerOf(i), i.params.revision as string),
    },
  ];
}
