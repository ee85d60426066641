import { AppError } from '../errors/index.js';
import type { LoadedPolicy } from '../policy/index.js';
import type { Decision } from '../types.js';
import { sha256Hex } from '../util/hash.js';
import { isTestId } from '../util/ids.js';
import type { Actor } from './audit-drafts.js';
import { decisionDraft, decisionEventId, signDecision } from './authorize.js';
import { canonicalRequest, parseSimulateAuthorization } from './authorize-request.js';
import { type EngineContext, type PolicySet, toPolicySet } from './context.js';
import { evaluateAuthorization } from './evaluate-authorization.js';

/**
 * The decision an authorization would get now, for an org testing its setup: the same evaluation as
 * authorize, with nothing read from or written to the idempotency store, no reservation, and
 * `simulated: true` inside the signed proof so it can never pass for a real approval. A binding of another
 * org is `binding_not_found`. The simulation is recorded in the audit trail (`simulation.authorization`).
 */
export async function simulateAuthorization(
  ctx: EngineContext,
  orgId: string,
  body: unknown,
  policy?: LoadedPolicy | PolicySet,
  actor?: Actor,
): Promise<Decision> {
  const { processorId, request } = parseSimulateAuthorization(body);
  // Live and test data never meet: an org simulates with processors of its own mode only.
  if (isTestId(processorId) !== isTestId(orgId)) throw new AppError('not_found', 'processor not found');
  const requestSha = sha256Hex(canonicalRequest(request));
  const nowMs = ctx.clock.now();
  let ev = await evaluateAuthorization(ctx, processorId, request, nowMs, toPolicySet(policy));
  if (ev.orgId !== null && ev.orgId !== orgId) {
    ev = {
      ...ev,
      action: 'DENY',
      reasons: ['binding_not_found'],
      approvedAmount: 0,
      orgId: null,
      agentId: null,
      binding: null,
      authority: null,
      intent: null,
      policyRevision: null,
      orgPolicyRevision: null,
    };
  }
  // Filed under the caller's org even when the binding is not found: the simulation was theirs.
  const decision = signDecision(
    ctx,
    processorId,
    request,
    requestSha,
    {
      ...ev,
      bindingId: ev.binding?.id ?? null,
      authorityId: ev.authority?.id ?? null,
      intentId: ev.intent?.id ?? null,
    },
    nowMs,
    true,
    decisionEventId(ctx, orgId, nowMs),
  );
  const drafts = decisionDraft(ctx, orgId, decision, request, nowMs, actor);
  if (drafts) await ctx.store.appendAuditDrafts(drafts);
  return decision;
}
