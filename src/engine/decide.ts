import type { PolicyDecision } from '../policy/index.js';
import type { Action, SpendingAuthority, UsageSnapshot } from '../types.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import { WINDOWS } from './windows.js';

/** The engine's final word on an authorization before reservation. */
export interface EngineVerdict {
  action: Action;
  reasons: string[];
  /** What would be held: the request amount, less for a partial approval, 0 when not allowed. */
  approvedAmount: number;
}

function sortedUnique(codes: string[]): string[] {
  return [...new Set(codes)].sort();
}

/**
 * Checks the engine enforces whatever the policy says (DESIGN §1: limits and currency are the engine's;
 * a policy can only tighten). Statuses and validity are enforced too, so a permissive custom policy can
 * never spend through a revoked agent, binding or authority.
 */
export function hardReasons(
  nowIso: string,
  req: NormalizedAuthorizeRequest,
  agentStatus: string,
  bindingStatus: string,
  authority: SpendingAuthority,
): string[] {
  const reasons: string[] = [];
  if (agentStatus !== 'active') reasons.push('agent_not_active');
  if (bindingStatus !== 'active') reasons.push('binding_not_active');
  if (authority.status !== 'active') reasons.push('authority_not_active');
  if (authority.valid_from !== null && nowIso < authority.valid_from) reasons.push('authority_not_yet_valid');
  if (authority.valid_until !== null && nowIso >= authority.valid_until) reasons.push('authority_expired');
  if (req.currency !== authority.currency) reasons.push('currency_not_allowed');
  if (req.amount <= 0) reasons.push('amount_invalid');
  const perTx = authority.limits.per_transaction;
  if (perTx !== null && req.amount > perTx) reasons.push('per_transaction_limit_exceeded');
  return reasons;
}

/** Reasons the usage snapshot already rules out holding `amount` (the reservation re-checks atomically). */
export function snapshotLimitReasons(authority: SpendingAuthority, usage: UsageSnapshot, amount: number): string[] {
  const reasons: string[] = [];
  for (const w of WINDOWS) {
    const limit = authority.limits[w];
    if (limit !== null && usage[w].spent + amount > limit) reasons.push(`${w}_limit_exceeded`);
    const count = authority.velocity[w];
    if (count !== null && usage[w].count + 1 > count) reasons.push('velocity_limit_exceeded');
  }
  return reasons;
}

/**
 * Combines the policy's decision with the engine's own checks. The stricter wins: any engine reason
 * denies; a partial approval is honoured only when both the authority and the processor allow it and
 * the amount is really partial; a policy cannot approve more than was asked.
 */
export function combine(
  policy: PolicyDecision,
  hard: string[],
  req: NormalizedAuthorizeRequest,
  authority: SpendingAuthority,
  usage: UsageSnapshot,
): EngineVerdict {
  if (hard.length > 0) {
    const fromPolicy = policy.action === 'DENY' ? policy.reasons : [];
    return { action: 'DENY', reasons: sortedUnique([...fromPolicy, ...hard]), approvedAmount: 0 };
  }
  if (policy.action === 'DENY' || policy.action === 'STEP_UP') {
    return { action: policy.action, reasons: sortedUnique(policy.reasons), approvedAmount: 0 };
  }
  let approved = req.amount;
  if (policy.action === 'ALLOW_WITH_LIMITS') {
    const partialOk = authority.partial_approval && req.partial_approval_supported;
    const amount = policy.approved_amount ?? 0;
    if (!partialOk || amount < 1 || amount >= req.amount) {
      return { action: 'DENY', reasons: sortedUnique(policy.reasons), approvedAmount: 0 };
    }
    approved = amount;
  }
  const overLimit = snapshotLimitReasons(authority, usage, approved);
  if (overLimit.length > 0) return { action: 'DENY', reasons: sortedUnique(overLimit), approvedAmount: 0 };
  return { action: policy.action, reasons: sortedUnique(policy.reasons), approvedAmount: approved };
}
