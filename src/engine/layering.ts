import type { LoadedPolicy, PolicyDecision } from '../policy/index.js';
import type { EngineContext } from './context.js';

/** Restrictiveness of an action: the combined result takes the highest. */
const RANK = { ALLOW: 0, ALLOW_WITH_LIMITS: 1, STEP_UP: 2, DENY: 3 } as const;

/** Reason of a decision whose org policy threw or returned an invalid decision. */
export const POLICY_ERROR_REASON = 'policy_error';

/** An org policy's own reason codes carry the `policy:` prefix. */
export function orgReason(code: string): string {
  return code.startsWith('policy:') ? code : `policy:${code}`;
}

/**
 * The most restrictive of the base decision and the org decision: DENY > STEP_UP > ALLOW_WITH_LIMITS (the
 * lower amount) > ALLOW. The reasons are those of every layer that reached the combined action (a DENY
 * explains itself with the denials of both, not with the other layer's step-up); the org decision comes
 * from {@link evaluateOrgPolicy}, its reasons already prefixed `policy:`. With no org decision the base
 * decision stands.
 */
export function layerDecisions(base: PolicyDecision, org: PolicyDecision | null): PolicyDecision {
  if (org === null) return base;
  const orgTagged = org;
  const action = RANK[orgTagged.action] > RANK[base.action] ? orgTagged.action : base.action;
  const reasons = new Set<string>();
  for (const d of [base, orgTagged]) if (d.action === action) for (const r of d.reasons) reasons.add(r);
  const out: PolicyDecision = { action, reasons: [...reasons].sort() };
  if (action === 'ALLOW_WITH_LIMITS') {
    const amounts = [base, orgTagged]
      .filter((d) => d.action === 'ALLOW_WITH_LIMITS' && d.approved_amount !== undefined)
      .map((d) => d.approved_amount as number);
    out.approved_amount = Math.min(...amounts);
  }
  return out;
}

/**
 * Evaluates an org policy, its reason codes prefixed `policy:`; a policy that throws or returns an invalid
 * decision is a DENY `policy_error` (logged with its revision and counted), never an approval and never an
 * error of the request.
 */
export function evaluateOrgPolicy(
  ctx: EngineContext,
  orgId: string,
  policy: LoadedPolicy,
  entrypoint: 'spend' | 'intent',
  evaluate: () => PolicyDecision,
): PolicyDecision {
  try {
    const decision = evaluate();
    return { ...decision, reasons: decision.reasons.map(orgReason) };
  } catch (err) {
    ctx.stats.orgPolicyErrors++;
    ctx.logger.error('org_policy_error', {
      org_id: orgId,
      revision: policy.revision,
      entrypoint,
      code: (err as { code?: unknown }).code ?? null,
      error: err instanceof Error ? err.message : String(err),
    });
    return { action: 'DENY', reasons: [POLICY_ERROR_REASON] };
  }
}
