import { bindingSchema, createBindingSchema, listQuerySchema, pageSchema } from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Credential bindings of the caller's org. */
export function bindingRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  const transition = (name: 'suspend' | 'resume' | 'revoke', summary: string): RouteSpec => ({
    method: 'post',
    path: `/v1/bindings/:id/${name}`,
    operationId: `${name}Binding`,
    summary,
    tag: 'bindings',
    roles: ['enterprise'],
    success: { status: 200, schema: bindingSchema },
    errors: [404, 409],
    handle: (i) => {
      const org = ownerOf(i);
      const id = i.params.id as string;
      if (name === 'suspend') return e.suspendBinding(org, id, actorOf(i));
      if (name === 'resume') return e.resumeBinding(org, id, actorOf(i));
      return e.revokeBinding(org, id, actorOf(i));
    },
  });
  return [
    {
      method: 'post',
      path: '/v1/bindings',
      operationId: 'createBinding',
      summary: "Bind a processor's credential to an agent and authority",
      tag: 'bindings',
      roles: ['enterprise'],
      body: { schema: createBindingSchema },
      success: { status: 201, schema: bindingSchema },
      errors: [404, 409, 422],
      handle: (i) => e.createBinding(ownerOf(i), i.body, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/bindings',
      operationId: 'listBindings',
      summary: 'List bindings; filter by status or agent_id',
      tag: 'bindings',
      roles: ['enterprise'],
      query: listQuerySchema,
      success: { status: 200, schema: pageSchema('Binding') },
      handle: (i) => e.listBindings(ownerOf(i), i.query),
    },
    {
      method: 'get',
      path: '/v1/bindings/:id',
      operationId: 'getBinding',
      summary: 'Get a binding',
      tag: 'bindings',
      roles: ['enterprise'],
      success: { status: 200, schema: bindingSchema },
      errors: [404],
      handle: (i) => e.getBinding(ownerOf(i), i.params.id as string),
    },
    transition('suspend', 'Suspend a binding'),
    transition('resume', 'Resume a suspended binding'),
    transition('revoke', 'Revoke a binding for good'),
  ];
}
