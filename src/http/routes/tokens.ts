import {
  agentTokenBatchVerificationSchema,
  agentTokenRevocationSchema,
  agentTokenSchema,
  agentTokenVerificationSchema,
  issueAgentTokenSchema,
  revokeAgentTokenSchema,
  verifyAgentTokenBatchSchema,
  verifyAgentTokenSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Agent tokens of an org: issue and revoke (enterprise). */
export function tokenRoutes(s: Services): RouteSpec[] {
  const t = s.agentTokens;
  return [
    {
      method: 'post',
      path: '/v1/tokens',
      operationId: 'issueAgentToken',
      summary: 'Issue an agent token (Ed25519 JWS; ttl 300 s by default, at most 86400 s)',
      tag: 'tokens',
      roles: ['enterprise'],
      body: { schema: issueAgentTokenSchema },
      success: { status: 201, schema: agentTokenSchema },
      errors: [404, 409, 422],
      handle: (i) => t.issue(ownerOf(i), i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/tokens/revoke',
      operationId: 'revokeAgentToken',
      summary: 'Revoke one agent token (token, or jti + agent_id) or every token of an agent (agent_id alone)',
      tag: 'tokens',
      roles: ['enterprise'],
      body: { schema: revokeAgentTokenSchema, validate: true },
      success: { status: 200, schema: agentTokenRevocationSchema },
      errors: [404, 422],
      handle: (i) => t.revoke(ownerOf(i), i.body, actorOf(i)),
    },
  ];
}

/** Verification of agent tokens, one or in batches: public, offline (signature, expiry, revocation list). */
export function tokenVerifyRoutes(s: Services): RouteSpec[] {
  const t = s.agentTokens;
  return [
    {
      method: 'post',
      path: '/v1/tokens/verify',
      operationId: 'verifyAgentToken',
      summary: 'Verify an agent token: signature, expiry and the in-memory revocation list; no store lookup',
      tag: 'tokens',
      roles: 'public',
      body: { schema: verifyAgentTokenSchema, validate: true },
      success: { status: 200, schema: agentTokenVerificationSchema },
      errors: [422, 429],
      addressCost: () => 1,
      handle: (i) => t.verify(i.body.token),
    },
    {
      method: 'post',
      path: '/v1/tokens/verify-batch',
      operationId: 'verifyAgentTokens',
      summary: 'Verify up to 100 agent tokens; results in request order (each token counts against the address limit)',
      tag: 'tokens',
      roles: 'public',
      body: { schema: verifyAgentTokenBatchSchema, validate: true },
      success: { status: 200, schema: agentTokenBatchVerificationSchema },
      errors: [422, 429],
      addressCost: (body) => Math.max(1, (body as { tokens: unknown[] }).tokens.length),
      handle: (i) => ({ results: (i.body.tokens as string[]).map((tok) => t.verify(tok)) }),
    },
  ];
}
