import {
  basePolicySchema,
  policyListQuerySchema,
  policyListSchema,
  policySchema,
  policySigningKeySchema,
  policySigningKeyStateSchema,
  policyStateSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteInput, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

const BUNDLE_BODY = {
  contentTypes: ['application/gzip', 'application/octet-stream'],
  description:
    'An OPA bundle (.tar.gz with policy.wasm, data.json and .manifest, as `opa build -t wasm` writes it), at most ALLOWANCE_POLICY_MAX_BYTES (default 10 MiB).',
};

const revisionOf = (i: RouteInput) => i.params.revision as string;

/** Per-org policy bundles: upload, list, promote, roll back, shadow, retire (enterprise). */
export function policyRoutes(s: Services): RouteSpec[] {
  const p = s.policies;
  const promote = (path: string, operationId: string, summary: string): RouteSpec => ({
    method: 'post',
    path,
    operationId,
    summary,
    tag: 'policies',
    roles: ['enterprise'],
    success: { status: 200, schema: policyStateSchema },
    errors: [404, 409, 503],
    handle: (i) => p.promote(ownerOf(i), revisionOf(i), actorOf(i)),
  });
  return [
    {
      method: 'post',
      path: '/v1/policies',
      operationId: 'uploadPolicy',
      summary:
        'Upload an OPA WASM bundle for the org (201; the same revision and content again: 200; other content: 409). Refused bundles are 422 policy_bundle_invalid with details.problem',
      tag: 'policies',
      roles: ['enterprise'],
      rawBody: BUNDLE_BODY,
      success: { status: 201, schema: policySchema, description: 'Stored (200 when it was already there)' },
      errors: [409, 413, 415, 422, 503],
      async handle(i) {
        const bytes = await p.readBundle(i.ctx);
        const { created, policy } = await p.upload(ownerOf(i), bytes, actorOf(i));
        if (!created) i.ctx.state.status = 200;
        return policy;
      },
    },
    {
      method: 'get',
      path: '/v1/policies',
      operationId: 'listPolicies',
      summary: "List the org's policy bundles (newest first) with its active, shadow and previous revisions",
      tag: 'policies',
      roles: ['enterprise'],
      query: policyListQuerySchema,
      success: { status: 200, schema: policyListSchema },
      errors: [503],
      handle: (i) => p.list(ownerOf(i), i.query as { limit: number; cursor?: string }),
    },
    {
      method: 'post',
      path: '/v1/policies/rollback',
      operationId: 'rollbackPolicy',
      summary: 'Return to the previous active revision (or base only, when that was the previous state)',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: policyStateSchema },
      errors: [409, 503],
      handle: (i) => p.rollback(ownerOf(i), actorOf(i)),
    },
    {
      method: 'delete',
      path: '/v1/policies/shadow',
      operationId: 'stopPolicyShadow',
      summary: 'Stop evaluating a shadow revision',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: policyStateSchema },
      errors: [409, 503],
      handle: (i) => p.stopShadow(ownerOf(i), actorOf(i)),
    },
    {
      method: 'get',
      path: '/v1/policies/:revision',
      operationId: 'getPolicy',
      summary: 'Get one of the org’s policy bundles',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: policySchema },
      errors: [404, 503],
      handle: (i) => p.get(ownerOf(i), revisionOf(i)),
    },
    promote(
      '/v1/policies/:revision/promote',
      'promotePolicy',
      'Make a revision the org’s active policy (every server within 1 s)',
    ),
    promote('/v1/policies/:revision/activate', 'activatePolicy', 'Alias of promote'),
    {
      method: 'post',
      path: '/v1/policies/:revision/shadow',
      operationId: 'shadowPolicy',
      summary: 'Evaluate a revision beside the active one on every decision of the org; its result is never returned',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: policyStateSchema },
      errors: [404, 409, 503],
      handle: (i) => p.setShadow(ownerOf(i), revisionOf(i), actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/policies/:revision/retire',
      operationId: 'retirePolicy',
      summary: 'Retire a revision (never promoted or shadowed again); not the active or shadow one',
      tag: 'policies',
      roles: ['enterprise'],
      success: { status: 200, schema: policySchema },
      errors: [404, 409, 503],
      handle: (i) => p.retire(ownerOf(i), revisionOf(i), actorOf(i)),
    },
    {
      method: 'put',
      path: '/v1/policy-signing-key',
      operationId: 'setPolicySigningKey',
      summary: 'Require (or with null, stop requiring) OPA bundle signatures by this public key on later uploads',
      tag: 'policies',
      roles: ['enterprise'],
      body: { schema: policySigningKeySchema, validate: true },
      success: { status: 200, schema: policySigningKeyStateSchema },
      errors: [409, 503],
      handle: (i) => p.setSigningKey(ownerOf(i), (i.body as { public_key: string | null }).public_key, actorOf(i)),
    },
  ];
}

/** The platform base policy under every org's (operator). */
export function basePolicyRoutes(s: Services): RouteSpec[] {
  const p = s.policies;
  return [
    {
      method: 'post',
      path: '/v1/base-policy',
      operationId: 'setBasePolicy',
      summary: 'Upload and activate the platform base policy on every server on the store (operator)',
      tag: 'policies',
      roles: ['operator'],
      rawBody: BUNDLE_BODY,
      success: { status: 200, schema: basePolicySchema },
      errors: [409, 413, 415, 422, 503],
      async handle(i) {
        return p.setBase(await p.readBundle(i.ctx), actorOf(i));
      },
    },
    {
      method: 'get',
      path: '/v1/base-policy',
      operationId: 'getBasePolicy',
      summary: 'The platform base policy in force on this server',
      tag: 'policies',
      roles: ['operator'],
      success: { status: 200, schema: basePolicySchema },
      errors: [503],
      handle: () => p.getBase(),
    },
  ];
}
