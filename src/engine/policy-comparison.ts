import type { IntentPolicyInput, LoadedPolicy, PolicyDecision, SpendPolicyInput } from '../policy/index.js';
import type { DecisionOutcome, DivergenceCounts, DivergenceSample } from '../storage/index.js';
import type { AuthorizationRecord, Intent, SpendingAuthority, UsageSnapshot } from '../types.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import { combine, type EngineVerdict, hardReasons } from './decide.js';
import { orgReason, POLICY_ERROR_REASON } from './layering.js';

/** What an org policy that throws or returns an invalid decision contributes: never an approval. */
export const POLICY_ERROR_DECISION: PolicyDecision = Object.freeze({
  action: 'DENY',
  reasons: Object.freeze([POLICY_ERROR_REASON]) as string[],
});

/**
 * Evaluates an org policy off the live path (shadow, replay) as live layering does (reasons prefixed
 * `policy:`, any failure {@link POLICY_ERROR_DECISION}), reporting a failure to `onError`, not to the live
 * counters.
 */
export function evaluateOrgSpend(
  policy: LoadedPolicy,
  input: SpendPolicyInput,
  onError?: (err: unknown) => void,
): PolicyDecision {
  try {
    const decision = policy.evaluateSpend(input);
    return { ...decision, reasons: decision.reasons.map(orgReason) };
  } catch (err) {
    onError?.(err);
    return POLICY_ERROR_DECISION;
  }
}

/** {@link evaluateOrgSpend} for the intent entry point. */
export function evaluateOrgIntent(
  policy: LoadedPolicy,
  input: IntentPolicyInput,
  onError?: (err: unknown) => void,
): PolicyDecision {
  try {
    const decision = policy.evaluateIntent(input);
    return { ...decision, reasons: decision.reasons.map(orgReason) };
  } catch (err) {
    onError?.(err);
    return POLICY_ERROR_DECISION;
  }
}

/** An intent decision as compared: its approved amount is the maximum the intent would allow (0 unless allowed). */
export function intentOutcome(decision: PolicyDecision, maxAmount: number): DecisionOutcome {
  const approved =
    decision.action === 'ALLOW'
      ? maxAmount
      : decision.action === 'ALLOW_WITH_LIMITS'
        ? Math.min(decision.approved_amount ?? maxAmount, maxAmount)
        : 0;
  return { action: decision.action, reasons: [...decision.reasons].sort(), approved_amount: approved };
}

/** The request as the engine checks it, rebuilt from a stored policy input. */
function requestOf(input: SpendPolicyInput): NormalizedAuthorizeRequest {
  const r = input.request;
  return {
    authorization_id: r.authorization_id,
    credential_reference: input.binding.credential.reference,
    binding_id: input.binding.id,
    amount: r.amount,
    currency: r.currency,
    merchant: r.merchant,
    channel: r.channel,
    intent_id: r.intent_id,
    partial_approval_supported: r.partial_approval_supported,
  };
}

/**
 * The engine's verdict on a policy input alone: the policies' decision (already layered) combined with the
 * engine's own checks, exactly as a live authorization combines them. Everything the checks read (statuses,
 * validity, currency, limits, the usage snapshot) is part of the input, so a stored input decides again the
 * same way, velocity and window limits included.
 */
export function verdictFromInput(
  input: SpendPolicyInput,
  policy: PolicyDecision,
  approval: ApprovalOutcome = NO_APPROVAL,
): EngineVerdict {
  const req = requestOf(input);
  // The input's projections carry every field the checks read (the intent: agent, status, expiry, amounts,
  // currency and merchant).
  const authority = input.authority as unknown as SpendingAuthority;
  const usage = input.usage as UsageSnapshot;
  const intent = input.intent as unknown as Intent | null;
  const hard = hardReasons(input.now, req, input.agent, input.binding.status, authority, usage, intent);
  const all = approval.problems.length > 0 ? [...hard, ...approval.problems] : hard;
  return combine(policy, all, req, authority, usage, req.intent_id !== null, approval.humanApproved);
}

/**
 * What the human approval a request named meant for its decision, which the policy input does not carry:
 * why it could not be used (`approval_*` reasons), or that it stood in for the step-up.
 */
export interface ApprovalOutcome {
  problems: string[];
  humanApproved: boolean;
}

/** A request that named no approval. */
export const NO_APPROVAL: ApprovalOutcome = { problems: [], humanApproved: false };

/**
 * The approval outcome of a stored authorization, from its record: none when it named no approval;
 * otherwise the `approval_*` reasons its decision carries, or (none) a usable approval.
 */
export function storedApprovalOutcome(rec: AuthorizationRecord): ApprovalOutcome {
  if (!rec.approval_id) return NO_APPROVAL;
  const problems = (rec.decision?.reason_codes ?? []).filter((r) => r.startsWith('approval_'));
  return { problems, humanApproved: problems.length === 0 };
}

/** A verdict as compared and reported. */
export function outcomeOf(v: EngineVerdict): DecisionOutcome {
  return { action: v.action, reasons: v.reasons, approved_amount: v.approvedAmount };
}

function sameReasons(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  for (const r of b) if (!set.has(r)) return false;
  return true;
}

/** True when two outcomes differ in action, approved amount or reasons. */
export function diverges(active: DecisionOutcome, candidate: DecisionOutcome): boolean {
  return (
    active.action !== candidate.action ||
    active.approved_amount !== candidate.approved_amount ||
    !sameReasons(active.reasons, candidate.reasons)
  );
}

/** `ACTIVE->CANDIDATE`, the key of a transition. */
export function transitionOf(active: DecisionOutcome, candidate: DecisionOutcome): string {
  return `${active.action}->${candidate.action}`;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function top<K extends string>(
  map: Map<string, number>,
  n: number,
  key: K,
): ({ [P in K]: string } & { changed: number })[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([id, changed]) => ({ [key]: id, changed }) as { [P in K]: string } & { changed: number });
}

/**
 * Adds up comparisons between what decided and a candidate: counters, the latest `sampleLimit` diverged
 * decisions and, for replay, the agents and merchants most affected.
 */
export class DivergenceTally {
  evaluated = 0;
  diverged = 0;
  private transitions = new Map<string, number>();
  private reasons = new Map<string, number>();
  private deltaSum = 0;
  private deltaMin: number | null = null;
  private deltaMax: number | null = null;
  private agents = new Map<string, number>();
  private merchants = new Map<string, number>();
  private samples: DivergenceSample[] = [];

  constructor(private readonly sampleLimit: number) {}

  /** Records one comparison; returns its transition when it diverged, else null. */
  add(sample: DivergenceSample): string | null {
    this.evaluated++;
    const { active, candidate } = sample;
    if (!diverges(active, candidate)) return null;
    this.diverged++;
    const transition = transitionOf(active, candidate);
    bump(this.transitions, transition);
    const had = new Set(active.reasons);
    for (const r of candidate.reasons) if (!had.has(r)) bump(this.reasons, r);
    const delta = candidate.approved_amount - active.approved_amount;
    this.deltaSum += delta;
    this.deltaMin = this.deltaMin === null ? delta : Math.min(this.deltaMin, delta);
    this.deltaMax = this.deltaMax === null ? delta : Math.max(this.deltaMax, delta);
    if (sample.agent_id !== null) bump(this.agents, sample.agent_id);
    if (sample.merchant_id !== null) bump(this.merchants, sample.merchant_id);
    this.samples.push(sample);
    if (this.samples.length > 2 * this.sampleLimit) this.samples = this.samples.slice(-this.sampleLimit);
    return transition;
  }

  counts(): DivergenceCounts {
    return {
      evaluated: this.evaluated,
      diverged: this.diverged,
      transitions: Object.fromEntries(this.transitions),
      reasons: Object.fromEntries(this.reasons),
      approved_amount_delta: { sum: this.deltaSum, min: this.deltaMin, max: this.deltaMax },
    };
  }

  /** The latest diverged decisions, oldest first. */
  latestSamples(): DivergenceSample[] {
    return this.samples.slice(-this.sampleLimit);
  }

  topAgents(n: number): { agent_id: string; changed: number }[] {
    return top(this.agents, n, 'agent_id');
  }

  topMerchants(n: number): { merchant_id: string; changed: number }[] {
    return top(this.merchants, n, 'merchant_id');
  }
}
