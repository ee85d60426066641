import {
  createCredentialSchema,
  createdCredentialSchema,
  credentialSchema,
  listQuerySchema,
  pageSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Enterprise self-service credentials; rotation is create + delete. */
export function credentialRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/credentials',
      operationId: 'listCredentials',
      summary: "List the org's credentials (secrets masked)",
      tag: 'credentials',
      roles: ['enterprise'],
      query: listQuerySchema,
      success: { status: 200, schema: pageSchema('Credential') },
      handle: (input) => s.credentials.list(ownerOf(input), input.query as { limit: number }),
    },
    {
      method: 'post',
      path: '/v1/credentials',
      operationId: 'createCredential',
      summary: 'Create another enterprise credential for the org (the secret is shown once)',
      tag: 'credentials',
      roles: ['enterprise'],
      body: { schema: createCredentialSchema, validate: true, required: false },
      success: { status: 201, schema: createdCredentialSchema },
      errors: [422],
      handle: (input) => s.credentials.create('enterprise', ownerOf(input), input.body.name ?? null, actorOf(input)),
    },
  ];
}

/** Revoking a credential: an enterprise revokes its org's, the operator any. */
export function credentialRevokeRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'delete',
      path: '/v1/credentials/:key_id',
      operationId: 'revokeCredential',
      summary: 'Revoke a credential of the org (the operator may revoke any)',
      tag: 'credentials',
      roles: ['enterprise', 'operator'],
      success: { status: 200, schema: credentialSchema },
      errors: [404],
      handle: (input) =>
        s.credentials.revoke(
          input.params.key_id as string,
          input.principal?.role === 'operator' ? null : ownerOf(input),
          actorOf(input),
        ),
    },
  ];
}
