import { createdBinding, maskedBinding } from '../../engine/index.js';
import {
  bindingSchema,
  createBindingSchema,
  createdBindingSchema,
  listQuerySchema,
  pageSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/**
 * Credential bindings of the caller's org. The credential reference is returned once, by the create;
 * every other response shows its last four characters and a prefix of its SHA-256.
 */
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
    handle: async (i) => {
      const org = ownerOf(i);
      const id = i.params.id as string;
      if (name === 'suspend') return maskedBinding(await e.suspendBinding(org, id, actorOf(i)));
      if (name === 'resume') return maskedBinding(await e.resumeBinding(org, id, actorOf(i)));
      return maskedBinding(await e.revokeBinding(org, id, actorOf(i)));
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
      success: { status: 201, schema: createdBindingSchema },
      errors: [404, 409, 422],
      handle: async (i) => createdBinding(await e.createBinding(ownerOf(i), i.body, actorOf(i))),
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
      handle: async (i) => {
        const page = await e.listBindings(ownerOf(i), i.query);
        return { ...page, items: page.items.map(maskedBinding) };
      },
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
      handle: async (i) => maskedBinding(await e.getBinding(ownerOf(i), i.params.id as string)),
    },
    transition('suspend', 'Suspend a binding'),
    transition('resume', 'Resume a suspended binding'),
    transition('revoke', 'Revoke a binding for good'),
  ];
}
