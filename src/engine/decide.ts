import type { PolicyDecision } from '../policy/index.js';
import type { Action, Intent, Merchant, MerchantRules, SpendingAuthority, UsageSnapshot } from '../types.js';
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

type MerchantField = 'id' | 'mcc' | 'country';

function listed(list: string[], merchant: Merchant, field: MerchantField): boolean {
  const value = merchant[field];
  return value !== undefined && list.includes(value);
}

/**
 * Merchant rules of an authority. For a payment (`strict`), a non-empty allow list refuses a merchant that
 * does not state the field; for an intent, only a stated value is checked (the payment checks the rest).
 */
export function merchantRuleReasons(rules: MerchantRules, merchant: Merchant, strict: boolean): string[] {
  const reasons: string[] = [];
  const notAllowed = (list: string[], field: MerchantField) =>
    list.length > 0 && !listed(list, merchant, field) && (strict || merchant[field] !== undefined);
  if (listed(rules.block_mcc, merchant, 'mcc')) reasons.push('mcc_blocked');
  if (notAllowed(rules.allow_mcc, 'mcc')) reasons.push('mcc_not_allowed');
  if (listed(rules.block_merchant_ids, merchant, 'id')) reasons.push('merchant_blocked');
  if (notAllowed(rules.allow_merchant_ids, 'id')) reasons.push('merchant_not_allowed');
  if (notAllowed(rules.allow_countries, 'country')) reasons.push('country_not_allowed');
  return reasons;
}

/**
 * What is wrong with the intent a payment names; empty when it is usable. `intent` is what the store
 * returned for `req.intent_id` (null when absent).
 */
export function intentReasons(
  nowIso: string,
  req: NormalizedAuthorizeRequest,
  agentId: string,
  authority: SpendingAuthority,
  intent: Intent | null,
): string[] {
  if (req.intent_id === null) return authority.require_intent ? ['intent_required'] : [];
  if (intent === null || intent.agent_id !== agentId) return ['intent_not_found'];
  const reasons: string[] = [];
  if (intent.status === 'consumed') reasons.push('intent_consumed');
  if (intent.status === 'expired' || intent.expires_at <= nowIso) reasons.push('intent_expired');
  if (intent.status === 'pending_approval' || intent.status === 'denied' || intent.status === 'cancelled') {
    reasons.push('intent_not_approved');
  }
  if (intent.currency !== req.currency || req.amount + intent.consumed_amount > intent.max_amount) {
    reasons.push('intent_amount_mismatch');
  }
  for (const field of ['id', 'mcc', 'country'] as const) {
    const expected = intent.merchant[field];
    if (expected !== undefined && req.merchant[field] !== expected) {
      reasons.push('intent_merchant_mismatch');
      break;
    }
  }
  return reasons;
}

/**
 * Checks the engine enforces whatever the policy says (docs/architecture.md, step 7: a policy can only tighten): statuses,
 * validity, currency, amount, per-transaction limit, merchant rules, velocity, and every rule of the intent
 * (required, found, approved, unexpired, unused, amount, merchant). A permissive custom policy can never
 * spend through any of them.
 */
export function hardReasons(
  nowIso: string,
  req: NormalizedAuthorizeRequest,
  agent: { id: string; status: string },
  bindingStatus: string,
  authority: SpendingAuthority,
  usage: UsageSnapshot,
  intent: Intent | null,
): string[] {
  const reasons: string[] = [];
  if (agent.status !== 'active') reasons.push('agent_not_active');
  if (bindingStatus !== 'active') reasons.push('binding_not_active');
  if (authority.status !== 'active') reasons.push('authority_not_active');
  if (authority.valid_from !== null && nowIso < authority.valid_from) reasons.push('authority_not_yet_valid');
  if (authority.valid_until !== null && nowIso >= authority.valid_until) reasons.push('authority_expired');
  if (req.currency !== authority.currency) reasons.push('currency_not_allowed');
  if (req.amount <= 0) reasons.push('amount_invalid');
  const perTx = authority.limits.per_transaction;
  if (perTx !== null && req.amount > perTx) reasons.push('per_transaction_limit_exceeded');
  reasons.push(...merchantRuleReasons(authority.merchant_rules, req.merchant, true));
  if (velocityExceeded(authority, usage)) reasons.push('velocity_limit_exceeded');
  reasons.push(...intentReasons(nowIso, req, agent.id, authority, intent));
  return reasons;
}

function velocityExceeded(authority: SpendingAuthority, usage: UsageSnapshot): boolean {
  return WINDOWS.some((w) => {
    const count = authority.velocity[w];
    return count !== null && usage[w].count + 1 > count;
  });
}

/** Reasons the usage snapshot already rules out holding `amount` (the reservation re-checks atomically). */
export function snapshotLimitReasons(authority: SpendingAuthority, usage: UsageSnapshot, amount: number): string[] {
  const reasons: string[] = [];
  for (const w of WINDOWS) {
    const limit = authority.limits[w];
    if (limit !== null && usage[w].spent + amount > limit) reasons.push(`${w}_limit_exceeded`);
  }
  if (velocityExceeded(authority, usage)) reasons.push('velocity_limit_exceeded');
  return reasons;
}

/** True when the amount needs a human's confirmation: above `step_up_above` with no intent behind it. */
export function stepUpRequired(authority: SpendingAuthority, amount: number, hasValidIntent: boolean): boolean {
  return authority.step_up_above !== null && amount > authority.step_up_above && !hasValidIntent;
}

/**
 * Combines the policy's decision with the engine's own checks. The stricter wins: any engine reason
 * denies; a step-up the authority requires stands unless the policy denies or a human approved this
 * payment (`humanApproved`: an approval it names was checked usable, then it is an ALLOW with reason
 * `human_approved`, still bounded by every window); a partial approval is honoured only when both the
 * authority and the processor allow it and the amount is really partial; a policy cannot approve more
 * than was asked, nor more than the windows have left.
 */
export function combine(
  policy: PolicyDecision,
  hard: string[],
  req: NormalizedAuthorizeRequest,
  authority: SpendingAuthority,
  usage: UsageSnapshot,
  hasValidIntent: boolean,
  humanApproved = false,
): EngineVerdict {
  if (hard.length > 0) {
    const fromPolicy = policy.action === 'DENY' ? policy.reasons : [];
    return { action: 'DENY', reasons: sortedUnique([...fromPolicy, ...hard]), approvedAmount: 0 };
  }
  if (policy.action === 'DENY') {
    return { action: 'DENY', reasons: sortedUnique(policy.reasons), approvedAmount: 0 };
  }
  if (policy.action === 'STEP_UP' || stepUpRequired(authority, req.amount, hasValidIntent)) {
    if (humanApproved) {
      const overLimit = snapshotLimitReasons(authority, usage, req.amount);
      if (overLimit.length > 0) return { action: 'DENY', reasons: sortedUnique(overLimit), approvedAmount: 0 };
      return { action: 'ALLOW', reasons: ['human_approved'], approvedAmount: req.amount };
    }
    const reasons = policy.action === 'STEP_UP' ? policy.reasons : ['step_up_required'];
    return { action: 'STEP_UP', reasons: sortedUnique(reasons), approvedAmount: 0 };
  }
  let approved = req.amount;
  if (policy.action === 'ALLOW_WITH_LIMITS') {
    const partialOk = authority.partial_approval && req.partial_approval_supported;
    const amount = policy.approved_amount ?? 0;
    if (!partialOk || amount < 1 || amount >= req.amount) {
      const overLimit = snapshotLimitReasons(authority, usage, req.amount);
      return { action: 'DENY', reasons: sortedUnique([...policy.reasons, ...overLimit]), approvedAmount: 0 };
    }
    approved = amount;
  }
  const overLimit = snapshotLimitReasons(authority, usage, approved);
  if (overLimit.length > 0) return { action: 'DENY', reasons: sortedUnique(overLimit), approvedAmount: 0 };
  return { action: policy.action, reasons: sortedUnique(policy.reasons), approvedAmount: approved };
}

/**
 * The engine's checks of an intent declaration, whatever the intent policy says: statuses, validity,
 * currency, amount, merchant rules (stated fields), expiry, per-transaction limit of a single-use intent and
 * the total budget left.
 */
export function intentHardReasons(
  nowIso: string,
  agentStatus: string,
  authority: SpendingAuthority,
  req: {
    max_amount: number;
    currency: string;
    merchant: Merchant;
    expires_at: string;
    single_use: boolean;
  },
  usage: UsageSnapshot,
): string[] {
  const reasons: string[] = [];
  if (agentStatus !== 'active') reasons.push('agent_not_active');
  if (authority.status !== 'active') reasons.push('authority_not_active');
  if (authority.valid_from !== null && nowIso < authority.valid_from) reasons.push('authority_not_yet_valid');
  if (authority.valid_until !== null && nowIso >= authority.valid_until) reasons.push('authority_expired');
  if (req.currency !== authority.currency) reasons.push('currency_not_allowed');
  if (req.max_amount <= 0) reasons.push('amount_invalid');
  reasons.push(...merchantRuleReasons(authority.merchant_rules, req.merchant, false));
  if (req.expires_at <= nowIso) reasons.push('intent_expired');
  const perTx = authority.limits.per_transaction;
  if (req.single_use && perTx !== null && req.max_amount > perTx) reasons.push('per_transaction_limit_exceeded');
  const total = authority.limits.total;
  if (total !== null && req.max_amount > total - usage.total.spent) reasons.push('total_limit_exceeded');
  return reasons;
}

/**
 * Combines the intent policy's decision with the engine's checks: any engine reason denies, the authority's
 * step-up threshold asks for a human unless the policy denies, and a policy cannot raise the amount.
 */
export function combineIntent(
  policy: PolicyDecision,
  hard: string[],
  authority: SpendingAuthority,
  maxAmount: number,
): PolicyDecision {
  if (hard.length > 0) {
    const fromPolicy = policy.action === 'DENY' ? policy.reasons : [];
    return { action: 'DENY', reasons: sortedUnique([...fromPolicy, ...hard]) };
  }
  if (policy.action === 'DENY') return { action: 'DENY', reasons: sortedUnique(policy.reasons) };
  if (policy.action === 'STEP_UP' || stepUpRequired(authority, maxAmount, false)) {
    return {
      action: 'STEP_UP',
      reasons: sortedUnique(policy.action === 'STEP_UP' ? policy.reasons : ['step_up_required']),
    };
  }
  return { ...policy, reasons: sortedUnique(policy.reasons) };
}
