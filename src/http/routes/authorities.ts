import {
  authoritySchema,
  authorityUsageSchema,
  createAuthoritySchema,
  listQuerySchema,
  pageSchema,
  updateAuthoritySchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Spending authorities of the caller's org. */
export function authorityRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  return [
    {
      method: 'post',
      path: '/v1/authorities',
      operationId: 'createAuthority',
      summary: 'Grant a spending authority to an agent',
      tag: 'authorities',
      roles: ['enterprise'],
      body: { schema: createAuthoritySchema },
      success: { status: 201, schema: authoritySchema },
      errors: [404, 409, 422],
      handle: (i) => e.createAuthority(ownerOf(i), i.body, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/authorities',
      operationId: 'listAuthorities',
      summary: 'List authorities; filter by status or agent_id',
      tag: 'authorities',
      roles: ['enterprise'],
      query: listQuerySchema,
      success: { status: 200, schema: pageSchema('Authority') },
      handle: (i) => e.listAuthorities(ownerOf(i), i.query),
    },
    {
      method: 'get',
      path: '/v1/authorities/:id',
      operationId: 'getAuthority',
      summary: 'Get an authority',
      tag: 'authorities',
      roles: ['enterprise'],
      success: { status: 200, schema: authoritySchema },
      errors: [404],
      handle: (i) => e.getAuthority(ownerOf(i), i.params.id as string),
    },
    {
      method: 'patch',
      path: '/v1/authorities/:id',
      operationId: 'updateAuthority',
      summary: 'Change limits and rules, or pause/resume',
      tag: 'authorities',
      roles: ['enterprise'],
      body: { schema: updateAuthoritySchema },
      success: { status: 200, schema: authoritySchema },
      errors: [404, 409, 422],
      handle: (i) => e.updateAuthority(ownerOf(i), i.params.id as string, i.body, undefined, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/authorities/:id/revoke',
      operationId: 'revokeAuthority',
      summary: 'Revoke an authority for good',
      tag: 'authorities',
      roles: ['enterprise'],
      success: { status: 200, schema: authoritySchema },
      errors: [404],
      handle: (i) => e.revokeAuthority(ownerOf(i), i.params.id as string, actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/authorities/:id/usage',
      operationId: 'getAuthorityUsage',
      summary: 'Spent, count and remaining per window for the current periods',
      tag: 'authorities',
      roles: ['enterprise'],
      success: { status: 200, schema: authorityUsageSchema },
      errors: [404],
      handle: (i) => e.getAuthorityUsage(ownerOf(i), i.params.id as string),
    },
  ];
}
