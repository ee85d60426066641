import { AppError } from '../../errors/index.js';
import {
  authorizationSchema,
  authorizeRequestSchema,
  captureRequestSchema,
  decisionSchema,
  incrementDecisionSchema,
  incrementRequestSchema,
  listQuerySchema,
  orgAuthorizationQuerySchema,
  pageSchema,
} from '../../schemas/index.js';
import type { Decision } from '../../types.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Real-time authorization (processor) and the lifecycle of authorizations. */
export function authorizationRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  const m = s.metrics;
  return [
    {
      method: 'post',
      path: '/v1/authorize',
      operationId: 'authorize',
      summary:
        'Decide a payment in flight; idempotent per authorization_id. Answers within ALLOWANCE_AUTHORIZE_DEADLINE_MS: when the store is unavailable or slow, with a signed stand-in decision (stand_in: true), or 503 storage_unavailable when none can be made',
      tag: 'authorizations',
      roles: ['processor'],
      body: { schema: authorizeRequestSchema },
      success: { status: 200, schema: decisionSchema },
      errors: [403, 409, 422, 503],
      async handle(i) {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        let decision: Decision;
        try {
          // The budget counts from the request's arrival: authentication and rate limiting spent part of it.
          decision = await e.authorize(ownerOf(i), i.body, actorOf(i), { receivedAt: i.ctx.state.receivedAt });
        } catch (err) {
          m.authorize(seconds(), null);
          throw err;
        }
        m.authorize(seconds(), decision);
        return decision;
      },
    },
    {
      method: 'post',
      path: '/v1/authorizations/:id/capture',
      operationId: 'captureAuthorization',
      summary: 'Capture an approved authorization (default: the approved amount); the rest of the hold is released',
      tag: 'authorizations',
      roles: ['processor'],
      body: { schema: captureRequestSchema, required: false },
      success: { status: 200, schema: authorizationSchema },
      errors: [404, 409, 422],
      handle: (i) => e.capture(ownerOf(i), i.params.id as string, i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/authorizations/:id/increment',
      operationId: 'incrementAuthorization',
      summary:
        'Raise the open hold of an approved authorization by amount (hotels, car rental): idempotent per increment_id, checked against every budget window atomically, answered with a signed decision (a DENY leaves the authorization as it was)',
      tag: 'authorizations',
      roles: ['processor'],
      body: { schema: incrementRequestSchema },
      success: { status: 200, schema: incrementDecisionSchema },
      errors: [404, 409, 422],
      handle: (i) => e.increment(ownerOf(i), i.params.id as string, i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/authorizations/:id/reverse',
      operationId: 'reverseAuthorization',
      summary: 'Reverse an approved, uncaptured authorization; its hold is released',
      tag: 'authorizations',
      roles: ['processor'],
      success: { status: 200, schema: authorizationSchema },
      errors: [404, 409],
      handle: (i) => e.reverse(ownerOf(i), i.params.id as string, actorOf(i)),
    },
  ];
}

/**
 * The list of authorizations and one by id, for both audiences: an enterprise sees its org's, a processor its
 * own.
 */
export function authorizationListRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  return [
    {
      method: 'get',
      path: '/v1/authorizations',
      operationId: 'listAuthorizations',
      summary:
        "List authorizations, newest first: an enterprise sees its org's, a processor its own (of every org); filter by status or agent_id",
      tag: 'authorizations',
      roles: ['enterprise', 'processor'],
      query: listQuerySchema,
      success: { status: 200, schema: pageSchema('Authorization') },
      errors: [403],
      handle(i) {
        if (i.principal?.role === 'processor') return e.listProcessorAuthorizations(ownerOf(i), i.query);
        return e.listAuthorizations(ownerOf(i), i.query);
      },
    },
    {
      method: 'get',
      path: '/v1/authorizations/:id',
      operationId: 'getAuthorization',
      summary:
        "Get an authorization by its authorization_id: a processor reads its own, an enterprise any of its org's (never another org's: 404); processor_id picks one when several processors used the id (else 409 authorization_ambiguous)",
      tag: 'authorizations',
      roles: ['enterprise', 'processor'],
      query: orgAuthorizationQuerySchema,
      success: { status: 200, schema: authorizationSchema },
      errors: [404, 409],
      handle(i) {
        const id = i.params.id as string;
        if (i.principal?.role === 'processor') {
          const own = ownerOf(i);
          if (i.query.processor_id !== undefined && i.query.processor_id !== own) {
            throw new AppError('not_found', 'authorization not found');
          }
          return e.getAuthorization(own, id);
        }
        return e.getOrgAuthorization(ownerOf(i), id, i.query);
      },
    },
  ];
}
