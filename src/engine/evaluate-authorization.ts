import { AppError } from '../errors/index.js';
import type { LoadedPolicy, PolicyDecision, SpendPolicyInput } from '../policy/index.js';
import type { UsageReadHints } from '../storage/index.js';
import type {
  Action,
  Agent,
  AuthorizationRecord,
  CredentialBinding,
  Intent,
  SpendingAuthority,
  UsageSnapshot,
} from '../types.js';
import { isoTime } from '../util/clock.js';
import { tracingActive } from '../util/tracing.js';
import { approvalReasons } from './approvals.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import type { EngineContext, PolicySet } from './context.js';
import { combine, hardReasons } from './decide.js';
import { evaluateOrgPolicy, layerDecisions } from './layering.js';
import { evaluateOrgSpend, outcomeOf, verdictFromInput } from './policy-comparison.js';
import { buildSpendInput } from './policy-input.js';
import type { ResolutionHint } from './resolution-hints.js';
import type { ShadowObservation } from './shadow-recorder.js';
import { tracePolicy } from './tracing.js';
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
  /** The usage snapshot the decision was made on (a reserve that follows may start from it). */
  usage: UsageSnapshot | null;
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
    usage: null,
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

/** What the store said about a request's credential, read before anything is evaluated. */
export type Resolved =
  | { kind: 'early'; evaluation: AuthorizationEvaluation }
  | {
      kind: 'resolved';
      orgId: string;
      binding: CredentialBinding;
      agent: Agent;
      authority: SpendingAuthority;
      intent: Intent | null;
      periods: Periods;
      usage: UsageSnapshot;
      /** The approval the request names, read beside the rest (null when none is named or found). */
      approved: AuthorizationRecord | null;
    };

/**
 * A resolution read beside the stored record: a read that follows an earlier one waits for `proceed`,
 * false once that record makes the resolution useless (a replay).
 */
export interface ResolutionWave {
  proceed: Promise<boolean>;
}

const ALWAYS: ResolutionWave = { proceed: Promise.resolve(true) };

/** Thrown (and dropped with the resolution) instead of starting a read after the wave was dropped. */
class DroppedResolution extends Error {}

/**
 * Before every read that follows an earlier one: waits for the wave's go-ahead, and throws
 * {@link DroppedResolution} once the wave was dropped, so that a dropped wave starts nothing more.
 */
async function proceedOrDrop(wave: ResolutionWave): Promise<void> {
  if (!(await wave.proceed)) throw new DroppedResolution('the resolution was dropped');
}

/** Whether a fresh binding and authority still are what the hint named (then the reads made with it hold). */
function hintHolds(hint: ResolutionHint, binding: CredentialBinding | null, authority: SpendingAuthority | null) {
  return (
    binding !== null &&
    binding.id === hint.bindingId &&
    binding.org_id === hint.orgId &&
    binding.agent_id === hint.agentId &&
    binding.authority_id === hint.authorityId &&
    authority !== null &&
    authority.time_zone === hint.timeZone
  );
}

/**
 * Steps 4–5 of the data flow in docs/architecture.md: binding → agent → authority → intent, and the usage
 * snapshot. With a hint (the ids this credential resolved to last) every read goes out at once, one round
 * trip; when the fresh binding or authority no longer match the hint, what depends on them is read again
 * in order. No read is ever skipped, so a change made on any server is seen at once.
 */
export async function resolveAuthorization(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  nowMs: number,
  usageHints: UsageReadHints = {},
  wave: ResolutionWave = ALWAYS,
): Promise<Resolved> {
  const { store } = ctx;
  // The named approval does not depend on the binding: it is read in the same round trip as the rest.
  const approvedRead = req.approval_id !== undefined ? store.findApproval(req.approval_id) : null;
  approvedRead?.catch(() => {}); // an early answer leaves it unread; its failure is seen where it is awaited
  const hints = ctx.resolutionHints;
  const hint = hints?.get(processorId, req);
  const bindingKey =
    req.binding_id !== null ? { id: req.binding_id } : { reference: req.credential_reference as string };
  let binding: CredentialBinding | null;
  let agent: Agent | null;
  let authority: SpendingAuthority | null;
  let intent: Intent | null;
  let usage: UsageSnapshot | null = null;
  let periods: Periods | null = null;
  if (hint) {
    periods = periodsAt(nowMs, hint.timeZone);
    const reads = await Promise.all([
      store.findBinding(processorId, bindingKey),
      store.getAgent(hint.orgId, hint.agentId),
      store.getAuthority(hint.orgId, hint.authorityId),
      req.intent_id !== null ? store.getIntent(hint.orgId, req.intent_id) : Promise.resolve(null),
      store.getUsage(hint.orgId, hint.authorityId, periods, usageHints),
    ]);
    // Read by index: destructuring would walk an iterator (and allocate its steps) on every authorize.
    binding = reads[0];
    agent = reads[1];
    authority = reads[2];
    intent = reads[3];
    usage = reads[4];
    if (!hintHolds(hint, binding, authority)) {
      await proceedOrDrop(wave);
      hints?.delete(processorId, req);
      usage = null;
      if (binding && binding.processor_id === processorId && binding.org_id === hint.orgId) {
        // The same org: only what the binding now names is read again.
        const orgId = binding.org_id;
        [agent, authority, intent] = await Promise.all([
          binding.agent_id === hint.agentId ? agent : store.getAgent(orgId, binding.agent_id),
          binding.authority_id === hint.authorityId ? authority : store.getAuthority(orgId, binding.authority_id),
          intent,
        ]);
      } else if (binding && binding.processor_id === processorId) {
        const orgId = binding.org_id;
        [agent, authority, intent] = await Promise.all([
          store.getAgent(orgId, binding.agent_id),
          store.getAuthority(orgId, binding.authority_id),
          req.intent_id !== null ? store.getIntent(orgId, req.intent_id) : Promise.resolve(null),
        ]);
      }
    }
  } else {
    binding = await store.findBinding(processorId, bindingKey);
    if (binding && binding.processor_id === processorId) {
      await proceedOrDrop(wave);
      const orgId = binding.org_id;
      [agent, authority, intent] = await Promise.all([
        store.getAgent(orgId, binding.agent_id),
        store.getAuthority(orgId, binding.authority_id),
        req.intent_id !== null ? store.getIntent(orgId, req.intent_id) : Promise.resolve(null),
      ]);
    } else {
      agent = null;
      authority = null;
      intent = null;
    }
  }
  if (!binding) {
    hints?.delete(processorId, req);
    return { kind: 'early', evaluation: early('DENY', 'binding_not_found') };
  }
  if (binding.processor_id !== processorId) {
    hints?.delete(processorId, req);
    return { kind: 'early', evaluation: early('DENY', 'processor_mismatch') };
  }
  const orgId = binding.org_id;
  const ids = { orgId, agentId: binding.agent_id, binding };
  if (!agent || agent.id !== binding.agent_id) {
    hints?.delete(processorId, req);
    return { kind: 'early', evaluation: early('DENY', 'agent_not_active', ids) };
  }
  if (!authority || authority.id !== binding.authority_id || authority.agent_id !== agent.id) {
    hints?.delete(processorId, req);
    return { kind: 'early', evaluation: early('DENY', 'authority_not_found', ids) };
  }
  if (usage === null || periods === null) {
    await proceedOrDrop(wave);
    periods = periodsAt(nowMs, authority.time_zone);
    usage = await store.getUsage(orgId, authority.id, periods, usageHints);
  }
  hints?.set(processorId, req, {
    orgId,
    bindingId: binding.id,
    agentId: agent.id,
    authorityId: authority.id,
    timeZone: authority.time_zone,
  });
  // Without a named approval there is nothing to wait for (no await, no extra turn of the microtask queue).
  const approved = approvedRead === null ? null : await approvedRead;
  return { kind: 'resolved', orgId, binding, agent, authority, intent, periods, usage, approved };
}

/**
 * Steps 4–7 of the data flow in docs/architecture.md, with no write: resolves binding → agent → authority → intent, snapshots usage,
 * builds the policy input, evaluates the base policy and the org's layered on it, and applies the engine's
 * own checks. When the org has a shadow candidate, the result carries the comparison for the caller to
 * queue (ShadowRecorder); a base shadow is only logged.
 */
export function evaluateAuthorization(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  nowMs: number,
  policyOverride?: PolicySet,
): Promise<AuthorizationEvaluation> {
  return resolveAuthorization(ctx, processorId, req, nowMs).then((resolved) =>
    evaluateResolved(ctx, processorId, req, nowMs, resolved, policyOverride),
  );
}

/** Steps 6–7 on what {@link resolveAuthorization} read: the policy input, the policies, the engine's checks. */
export function evaluateResolved(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  nowMs: number,
  resolved: Resolved,
  policyOverride?: PolicySet,
): AuthorizationEvaluation {
  if (resolved.kind === 'early') return resolved.evaluation;
  const { orgId, binding, agent, authority, intent, periods, usage, approved } = resolved;
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
  const org = policies.org ?? null;
  let base: PolicyDecision;
  let decision: PolicyDecision;
  if (org === null && !tracingActive()) {
    // The common case (the base policy alone, untraced): the same evaluation, without a closure and a
    // wrapper object per call.
    base = evaluatePolicy(policies.active, input);
    decision = base;
  } else {
    ({ base, decision } = tracePolicy(orgId, policies.active, org, () => {
      const base = evaluatePolicy(policies.active, input);
      return {
        base,
        decision: layerDecisions(
          base,
          org ? evaluateOrgPolicy(ctx, orgId, org, 'spend', () => org.evaluateSpend(input)) : null,
        ),
      };
    }));
  }
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
    usage,
    shadow,
    humanApproved,
  };
}
