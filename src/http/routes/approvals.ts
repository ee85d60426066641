import {
  approvalLinkDecisionSchema,
  approvalLinkSchema,
  approvalListQuerySchema,
  approvalSchema,
  approveApprovalSchema,
  createApprovalLinkSchema,
  declineApprovalSchema,
  pageSchema,
} from '../../schemas/index.js';
import { actorOf, ownerOf, type RouteSpec } from '../route.js';
import type { Services } from '../services.js';

/** Human approvals of STEP_UP decisions: the enterprise's routes. */
export function approvalRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  return [
    {
      method: 'get',
      path: '/v1/approvals',
      operationId: 'listApprovals',
      summary: 'List the approvals STEP_UP decisions opened, newest first; filter by status or agent_id',
      tag: 'approvals',
      roles: ['enterprise'],
      query: approvalListQuerySchema,
      success: { status: 200, schema: pageSchema('Approval') },
      handle: (i) => e.listApprovals(ownerOf(i), i.query),
    },
    {
      method: 'get',
      path: '/v1/approvals/:id',
      operationId: 'getApproval',
      summary: 'Get an approval (404 for another org’s)',
      tag: 'approvals',
      roles: ['enterprise'],
      success: { status: 200, schema: approvalSchema },
      errors: [404],
      handle: (i) => e.getApproval(ownerOf(i), i.params.id as string),
    },
    {
      method: 'post',
      path: '/v1/approvals/:id/approve',
      operationId: 'approveApproval',
      summary:
        'Approve a pending approval, optionally for a lower amount; the processor may then authorize once with approval_id for at most that amount, before expires_at',
      tag: 'approvals',
      roles: ['enterprise'],
      body: { schema: approveApprovalSchema, required: false },
      success: { status: 200, schema: approvalSchema },
      errors: [404, 409, 422],
      handle: (i) => e.approveApproval(ownerOf(i), i.params.id as string, i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/approvals/:id/decline',
      operationId: 'declineApproval',
      summary: 'Decline a pending approval; an authorization naming it is declined (approval_declined)',
      tag: 'approvals',
      roles: ['enterprise'],
      body: { schema: declineApprovalSchema, required: false },
      success: { status: 200, schema: approvalSchema },
      errors: [404, 409, 422],
      handle: (i) => e.declineApproval(ownerOf(i), i.params.id as string, i.body, actorOf(i)),
    },
    {
      method: 'post',
      path: '/v1/approvals/:id/link',
      operationId: 'createApprovalLink',
      summary:
        'Issue a signed one-time link to a pending approval for a person to open (GET shows it, POST decides it); a new link replaces the previous one',
      tag: 'approvals',
      roles: ['enterprise'],
      body: { schema: createApprovalLinkSchema, required: false },
      success: { status: 201, schema: approvalLinkSchema },
      errors: [404, 409, 422],
      handle: (i) => e.createApprovalLink(ownerOf(i), i.params.id as string, i.body, actorOf(i)),
    },
  ];
}

/** The public routes of a signed one-time approval link: the token in the path is the credential. */
export function approvalLinkRoutes(s: Services): RouteSpec[] {
  const e = s.engine;
  return [
    {
      method: 'get',
      path: '/v1/approval-links/:token',
      operationId: 'readApprovalLink',
      summary:
        'What an approval link asks (public: the signed token is the credential); 403 approval_link_invalid, 410 approval_link_expired, 409 approval_link_used',
      tag: 'approvals',
      roles: 'public',
      addressCost: () => 1,
      success: { status: 200, schema: approvalSchema },
      errors: [403, 409, 410],
      handle: (i) => e.readApprovalLink(i.params.token as string),
    },
    {
      method: 'post',
      path: '/v1/approval-links/:token',
      operationId: 'decideApprovalLink',
      summary: 'Approve (optionally for a lower amount) or decline through an approval link: once (public)',
      tag: 'approvals',
      roles: 'public',
      addressCost: () => 1,
      body: { schema: approvalLinkDecisionSchema },
      success: { status: 200, schema: approvalSchema },
      errors: [403, 409, 410, 422],
      handle: (i) => e.decideApprovalLink(i.params.token as string, i.body),
    },
  ];
}
