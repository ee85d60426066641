import { agentSchema, createAgentSchema, listQuerySchema, pageSchema, updateAgentSchema } from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Agents of the caller's org. */
export function agentRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  return [
    {
      method: 'post',
      path: '/v1/agents',
      operationId: 'createAgent',
      summary: 'Register an agent',
      tag: 'agents',
      roles: ['enterprise'],
      body: { schema: createAgentSchema },
      success: { status: 201, schema: agentSchema },
      errors: [402, 422],
      handle: (i) => e.createAgent(ownerOf(i), i.body, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/agents',
      operationId: 'listAgents',
      summary: 'List agents; filter by status',
      tag: 'agents',
      roles: ['enterprise'],
      query: listQuerySchema,
      success: { status: 200, schema: pageSchema('Agent') },
      handle: (i) => e.listAgents(ownerOf(i), i.query),
    },
    {
      method: 'get',
      path: '/v1/agents/:id',
      operationId: 'getAgent',
      summary: 'Get an agent',
      tag: 'agents',
      roles: ['enterprise'],
      success: { status: 200, schema: agentSchema },
      errors: [404],
      handle: (i) => e.getAgent(ownerOf(i), i.params.id as string),
    },
    {
      method: 'patch',
      path: '/v1/agents/:id',
      operationId: 'updateAgent',
      summary: 'Change an agent, or pause/resume it',
      tag: 'agents',
      roles: ['enterprise'],
      body: { schema: updateAgentSchema },
      success: { status: 200, schema: agentSchema },
      errors: [404, 409, 422],
      handle: (i) => e.updateAgent(ownerOf(i), i.params.id as string, i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/agents/:id/revoke',
      operationId: 'revokeAgent',
      summary: 'Revoke an agent for good: its tokens stop verifying and its bindings are suspended',
      tag: 'agents',
      roles: ['enterprise'],
      success: { status: 200, schema: agentSchema },
      errors: [404],
      async handle(i) {
        const org = ownerOf(i);
        const agent = await e.revokeAgent(org, i.params.id as string, actorOf(i));
        await s.agentTokens.revokeAgent(org, agent.id, actorOf(i));
        return agent;
      },
    },
  ];
}
