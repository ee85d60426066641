import { AppError } from '../errors/index.js';
import type { LoadedPolicy, PolicyDecision, SpendPolicyInput } from '../policy/index.js';
import type { Action, CredentialBinding, Intent, SpendingAuthority } from '../types.js';
import { isoTime } from '../util/clock.js';
import { approvalReasons } from './approvals.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import type { EngineContext, PolicySet } from './context.js';
import { combine, hardReasons } from './decide.js';
import { evaluateOrgPolicy, layerDecisions } from './layering.js';
import { evaluateOrgSpend, outcomeOf, verdictFromInput } from './policy-comparison.js';
import { buildSpendInput } from './policy-input.js';
import type { ShadowObservation } from './shadow-recorder.js';
import { localTimeAt, type Periods, periodsAt } from './windows.js';

/** Everything decided about an authorization before anything is written. */
export interface AuthorizationEvaluation {
  action: Action;
  reasons: string[];
  approvedAmount: number;
  orgId: string | null;
  agentId: string | null;
  binding: CredentialBinding | null;
  authority: SpendingAuthority | null;
  intent: Intent | null;
  periods: Periods | null;
  policyRevision: string | null;
  /** The org revision layered on the base for this decision, or null when the base alone decided. */
  orgPolicyRevision: string | null;
  policyInput: SpendPolicyInput | null;
  /** The comparison to queue once the decision is final, when the org has a shadow candidate. */
  shadow: ShadowObservation | null;
  /** True when the request names an approval that was found usable (it is used after the reservation). */
  humanApproved?: boolean;
}

function early(action: Action, reason: string, extra: Partial<AuthorizationEvaluation> = {}): AuthorizationEvaluation {
  return {
    action,
    reasons: [reason],
    approvedAmount: 0,
    orgId: null,
    agentId: null,
    binding: null,
    authority: null,
    intent: null,
    periods: null,
    policyRevision: null,
    orgPolicyRevision: null,
    policyInput: null,
    shadow: null,
    ...extra,
  };
}

function evaluatePolicy(policy: LoadedPolicy, input: SpendPolicyInput): PolicyDecision {
  try {
    return policy.evaluateSpend(input);
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: string }).code;
    const known = code === 'policy_no_result' || code === 'policy_output_invalid' ? code : 'policy_evaluation_failed';
    throw new AppError(known, 'policy evaluation failed', { cause: err });
  }
}

/**
 * Evaluates the shadow policy beside the decision and logs both; its result is never returned. An org
 * candidate is layered on the base decision like the active org policy; a base shadow replaces the base.
 */
function logShadow(
  ctx: EngineContext,
  orgId: string,
  req: NormalizedAuthorizeRequest,
  input: SpendPolicyInput,
  policies: PolicySet,
  base: PolicyDecision,
  decision: PolicyDecision,
): void {
  const candidate = policies.orgShadow ?? null;
  const shadow = candidate ?? policies.shadow;
  if (!shadow) return;
  try {
    const result = candidate
      ? layerDecisions(
          base,
          evaluateOrgPolicy(ctx, orgId, candidate, 'spend', () => candidate.evaluateSpend(input)),
        )
      : shadow.evaluateSpend(input);
    ctx.logger.info('shadow_decision', {
      org_id: orgId,
      authorization_id: req.authorization_id,
      active_revision: policies.org?.revision ?? policies.active.revision,
      shadow_revision: shadow.revision,
      active_action: decision.action,
      shadow_action: result.action,
      shadow_reasons: result.reasons,
      differs: result.action !== decision.action,
    });
  } catch (err) {
    ctx.logger.warn('shadow_policy_failed', { org_id: orgId, revision: shadow.revision, error: String(err) });
  }
}

/**
 * Steps 4–7 of the data flow in docs/architecture.md, with no write: resolves binding → agent → authority → intent, snapshots usage,
 * builds the policy input, evaluates the base policy and the org's layered on it, and applies the engine's
 * own checks. When the org has a shadow candidate, the result carries the comparison for the caller to
 * queue (ShadowRecorder); a base shadow is only logged.
 */
export async function evaluateAuthorization(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  nowMs: number,
  policyOverride?: PolicySet,
): Promise<AuthorizationEvaluation> {
  const { store } = ctx;
  const binding = await store.findBinding(
    processorId,
    req.binding_id !== null ? { id: req.binding_id } : { reference: req.credential_reference as string },
  );
  if (!binding) return early('DENY', 'binding_not_found');
  if (binding.processor_id !== processorId) return early('DENY', 'processor_mismatch');
  const orgId = binding.org_id;
  const [agent, authority, intent, approved] = await Promise.all([
    store.getAgent(orgId, binding.agent_id),
    store.getAuthority(orgId, binding.authority_id),
    req.intent_id !== null ? store.getIntent(orgId, req.intent_id) : Promise.resolve(null),
    req.approval_id !== undefined ? store.findApproval(req.approval_id) : Promise.resolve(null),
  ]);
  const ids = { orgId, agentId: binding.agent_id, binding };
  if (!agent) return early('DENY', 'agent_not_active', ids);
  if (!authority || authority.agent_id !== agent.id) return early('DENY', 'authority_not_found', ids);

  const periods = periodsAt(nowMs, authority.time_zone);
  const usage = await store.getUsage(orgId, authority.id, periods);
  const now = isoTime(nowMs);
  const input = buildSpendInput({
    now,
    localTime: localTimeAt(nowMs, authority.time_zone),
    request: req,
    processorId,
    agent,
    authority,
    binding,
    usage,
    intent,
  });
  const policies: PolicySet = policyOverride ? policyOverride : ctx.policies.forOrg(orgId);
  const base = evaluatePolicy(policies.active, input);
  const org = policies.org ?? null;
  const decision = layerDecisions(
    base,
    org ? evaluateOrgPolicy(ctx, orgId, org, 'spend', () => org.evaluateSpend(input)) : null,
  );
  const hard = hardReasons(now, req, agent, binding.status, authority, usage, intent);
  const approvalProblems =
    req.approval_id !== undefined ? approvalReasons(now, processorId, req, orgId, agent.id, approved) : [];
  const humanApproved = req.approval_id !== undefined && approvalProblems.length === 0;
  const verdict = combine(
    decision,
    approvalProblems.length > 0 ? [...hard, ...approvalProblems] : hard,
    req,
    authority,
    usage,
    req.intent_id !== null,
    humanApproved,
  );
  // An org candidate is compared later, off this path (see ShadowRecorder), never for a simulation; without
  // a recorder (or for a base shadow) the comparison is only logged.
  const candidate = policies.orgShadow ?? null;
  const shadow: ShadowObservation | null =
    candidate && ctx.shadow && !policyOverride
      ? {
          orgId,
          activeRevision: org?.revision ?? null,
          candidate,
          active: outcomeOf(verdict),
          decide: (onError) =>
            outcomeOf(
              verdictFromInput(input, layerDecisions(base, evaluateOrgSpend(candidate, input, onError)), {
                problems: approvalProblems,
                humanApproved,
              }),
            ),
          sample: {
            kind: 'authorization',
            processor_id: processorId,
            authorization_id: req.authorization_id,
            intent_id: null,
            at: now,
            agent_id: agent.id,
            merchant_id: req.merchant.id ?? null,
          },
        }
      : null;
  if (shadow === null) logShadow(ctx, orgId, req, input, policies, base, decision);
  return {
    action: verdict.action,
    reasons: verdict.reasons,
    approvedAmount: verdict.approvedAmount,
    orgId,
    agentId: agent.id,
    binding,
    authority,
    intent: intent && intent.agent_id === agent.id ? intent : null,
    periods,
    policyRevision: policies.active.revision,
    orgPolicyRevision: org?.revision ?? null,
    policyInput: input,
    shadow,
    humanApproved,
  };
}
