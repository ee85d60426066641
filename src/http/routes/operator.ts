import { AppError } from '../../errors/index.js';
import {
  createCredentialSchema,
  createdCredentialSchema,
  createNamedSchema,
  orgSchema,
  processorSchema,
} from '../../schemas/index.js';
import { isTestId } from '../../util/ids.js';
import { actorOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** A live org by id, or `not_found` (a test twin's id is not an org the operator addresses). */
async function liveOrg(s: Services, id: string) {
  const org = await s.engine.getOrg(id);
  if (!org || isTestId(org.id)) throw new AppError('not_found', 'org not found');
  return org;
}

/** Operator routes: orgs, processors and their first credentials. */
export function operatorRoutes(s: Services): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/orgs',
      operationId: 'createOrg',
      summary: 'Create an enterprise tenant',
      tag: 'operator',
      roles: ['operator'],
      body: { schema: createNamedSchema },
      success: { status: 201, schema: orgSchema },
      errors: [422],
      handle: (i) => s.engine.createOrg(i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/processors',
      operationId: 'createProcessor',
      summary: 'Create a processor',
      tag: 'operator',
      roles: ['operator'],
      body: { schema: createNamedSchema },
      success: { status: 201, schema: processorSchema },
      errors: [422],
      handle: ({ body }) => s.engine.createProcessor(body),
    },
    {
      method: 'post',
      path: '/v1/orgs/:id/credentials',
      operationId: 'createOrgCredential',
      summary: 'Create an enterprise credential for an org (the secret is shown once)',
      tag: 'operator',
      roles: ['operator'],
      body: { schema: createCredentialSchema, validate: true, required: false },
      success: { status: 201, schema: createdCredentialSchema },
      errors: [404, 422],
      async handle(i) {
        const id = i.params.id as string;
        // A test credential belongs to the org's test twin (made on first use): test data is a world of its own.
        const org = i.body.mode === 'test' ? await s.engine.ensureTestOrg(id, actorOf(i)) : await liveOrg(s, id);
        return s.credentials.create('enterprise', org.id, i.body.name ?? null, actorOf(i), {
          apiKeyAuth: i.body.api_key_auth === true,
        });
      },
    },
    {
      method: 'post',
      path: '/v1/processors/:id/credentials',
      operationId: 'createProcessorCredential',
      summary: 'Create a processor credential (the secret is shown once)',
      tag: 'operator',
      roles: ['operator'],
      body: { schema: createCredentialSchema, validate: true, required: false },
      success: { status: 201, schema: createdCredentialSchema },
      errors: [404, 422],
      async handle({ params, body }) {
        const id = params.id as string;
        const processor =
          body.mode === 'test' ? await s.engine.ensureTestProcessor(id) : await s.engine.getProcessor(id);
        if (!processor || isTestId(processor.id) !== (body.mode === 'test')) {
          throw new AppError('not_found', 'processor not found');
        }
        return s.credentials.create('processor', processor.id, body.name ?? null, undefined, {
          apiKeyAuth: body.api_key_auth === true,
        });
      },
    },
  ];
}
