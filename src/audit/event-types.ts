/**
 * Audit event types: part of the API (webhook subscriptions name them), never renamed.
 * `authorization.approved` covers ALLOW and ALLOW_WITH_LIMITS (the payload's `action` tells them apart).
 */
export const AUDIT_EVENT_TYPES = [
  'org.created',
  'agent.created',
  'agent.updated',
  'agent.paused',
  'agent.resumed',
  'agent.revoked',
  'token.issued',
  'token.revoked',
  'credential.created',
  'credential.revoked',
  'credential.rotated',
  'authority.created',
  'authority.updated',
  'authority.revoked',
  'binding.created',
  'binding.suspended',
  'binding.resumed',
  'binding.revoked',
  'intent.approved',
  'intent.denied',
  'intent.pending_approval',
  'intent.cancelled',
  'authorization.approved',
  'authorization.declined',
  'authorization.step_up',
  'authorization.captured',
  'authorization.reversed',
  'authorization.expired',
  'authorization.partially_captured',
  'authorization.refunded',
  'authorization.incremented',
  'approval.requested',
  'approval.approved',
  'approval.declined',
  'approval.expired',
  'approval.used',
  'simulation.authorization',
  'simulation.intent',
  'webhook.created',
  'webhook.deleted',
  'webhook.disabled',
  'bridge.registered',
  'bridge.secret_rotated',
  'bridge.deleted',
  'policy.uploaded',
  'policy.promoted',
  'policy.rolled_back',
  'policy.shadow_started',
  'policy.shadow_stopped',
  'policy.retired',
  'policy.replay.completed',
  'quota.exceeded',
  'domain.added',
  'domain.verified',
  'domain.removed',
  'org.settings_updated',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

const KNOWN = new Set<string>(AUDIT_EVENT_TYPES);

/** True for a type of {@link AUDIT_EVENT_TYPES}. */
export function isAuditEventType(t: string): t is AuditEventType {
  return KNOWN.has(t);
}
