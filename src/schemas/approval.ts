import { resourceId } from './common.js';

const amount = {
  type: 'integer',
  minimum: 1,
  maximum: 1_000_000_000_000_000,
  description: 'Minor units; at most the amount the stepped-up request asked for. Default: that amount.',
} as const;

const note = {
  type: 'string',
  minLength: 1,
  maxLength: 500,
  description: 'Why; kept in the audit trail.',
} as const;

/** Body of approving a pending approval, optionally for less than was asked. */
export const approveApprovalSchema = {
  $id: 'ApproveApproval',
  type: 'object',
  additionalProperties: false,
  properties: { amount, note },
} as const;

/** Body of declining a pending approval. */
export const declineApprovalSchema = {
  $id: 'DeclineApproval',
  type: 'object',
  additionalProperties: false,
  properties: { note },
} as const;

/** Body of issuing a signed one-time approval link. */
export const createApprovalLinkSchema = {
  $id: 'CreateApprovalLink',
  type: 'object',
  additionalProperties: false,
  properties: {
    ttl_seconds: {
      type: 'integer',
      minimum: 60,
      maximum: 7 * 24 * 3600,
      description: "How long the link works (default 1 hour); never past the approval's own expiry.",
    },
  },
} as const;

/** Body of deciding an approval through its link. */
export const approvalLinkDecisionSchema = {
  $id: 'ApprovalLinkDecision',
  type: 'object',
  additionalProperties: false,
  required: ['decision'],
  properties: { decision: { enum: ['approve', 'decline'] }, amount, note },
} as const;

/** Query of listing approvals. */
export const approvalListQuerySchema = {
  $id: 'ApprovalListQuery',
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    cursor: { type: 'string', minLength: 1, maxLength: 256 },
    status: { enum: ['pending', 'approved', 'declined', 'used', 'expired'] },
    agent_id: resourceId,
  },
} as const;
