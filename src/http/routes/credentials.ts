import { AppError } from '../../errors/index.js';
import {
  createCredentialSchema,
  createdCredentialSchema,
  credentialSchema,
  listQuerySchema,
  pageSchema,
  rotateCredentialSchema,
} from '../../schemas/index.js';
import { liveIdOf } from '../../util/ids.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Enterprise self-service credentials: the org's own, created and listed. */
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
      async handle(input) {
        const owner = ownerOf(input);
        const mode = (input.body.mode as 'live' | 'test' | undefined) ?? (input.principal?.livemode ? 'live' : 'test');
        // A test credential never mints a live one; a live one may open the org's test world.
        if (mode === 'live' && !input.principal?.livemode) {
          throw new AppError('forbidden', 'a test-mode credential cannot create live credentials');
        }
        const org = mode === 'test' ? (await s.engine.ensureTestOrg(liveIdOf(owner), actorOf(input))).id : owner;
        return s.credentials.create('enterprise', org, input.body.name ?? null, actorOf(input), {
          apiKeyAuth: input.body.api_key_auth === true,
        });
      },
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

/** Rotating a credential's secret: an enterprise its org's, a processor its own, the operator any. */
export function credentialRotateRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/credentials/:key_id/rotate',
      operationId: 'rotateCredential',
      summary:
        'Give a credential a new secret (shown once); the old one keeps working for grace_period_seconds (default 24 h, 0: at once)',
      tag: 'credentials',
      roles: ['enterprise', 'processor', 'operator'],
      body: { schema: rotateCredentialSchema, validate: true, required: false },
      success: { status: 200, schema: createdCredentialSchema },
      errors: [404, 409, 422],
      handle: (input) =>
        s.credentials.rotate(
          input.params.key_id as string,
          input.principal?.role === 'operator' ? null : ownerOf(input),
          input.body.grace_period_seconds as number,
          actorOf(input),
        ),
    },
  ];
}
