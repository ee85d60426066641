import { AppError } from '../errors/index.js';
import type { LoadedPolicy, PolicyDecision } from '../policy/index.js';
import type { Page } from '../storage/index.js';
import type { Action, Agent, Intent, IntentStatus, SpendingAuthority } from '../types.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, newId } from '../util/ids.js';
import { getAgent } from './agents.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import { type EngineContext, type PolicySet, toPolicySet } from './context.js';
import { combineIntent, intentHardReasons } from './decide.js';
import { type NormalizedIntentRequest, parseIntentRequest } from './intent-request.js';
import { evaluateOrgPolicy, layerDecisions } from './layering.js';
import { parseListQuery } from './list-query.js';
import { evaluateOrgIntent, intentOutcome } from './policy-comparison.js';
import { buildIntentInput } from './policy-input.js';
import type { ShadowObservation } from './shadow-recorder.js';
import { periodsAt } from './windows.js';

/** An intent as shown to callers (internal bookkeeping removed, expiry applied). */
export type IntentView = Omit<Intent, 'consumptions'>;

/** The outcome of validating an intent: the stored intent, the decision and its signed mandate. */
export interface IntentResult {
  intent: IntentView;
  action: Action;
  reason_codes: string[];
  /** Compact JWS (EdDSA) over the intent's terms and status. */
  mandate: string;
}

const STATUS_BY_ACTION: Record<Action, IntentStatus> = {
  ALLOW: 'approved',
  ALLOW_WITH_LIMITS: 'approved',
  DENY: 'denied',
  STEP_UP: 'pending_approval',
};

/** The view of an intent at `nowMs`: an approved or pending intent past `expires_at` reads as expired. */
export function intentView(intent: Intent, nowMs: number): IntentView {
  const { consumptions: _, ...view } = intent;
  if ((view.status === 'approved' || view.status === 'pending_approval') && view.expires_at <= isoTime(nowMs)) {
    return { ...view, status: 'expired' };
  }
  return view;
}

function signMandate(ctx: EngineContext, intent: IntentView, nowMs: number): string {
  return ctx.sign({
    typ: 'intent_mandate',
    intent_id: intent.id,
    org_id: intent.org_id,
    agent_id: intent.agent_id,
    authority_id: intent.authority_id,
    description: intent.description,
    max_amount: intent.max_amount,
    currency: intent.currency,
    merchant: intent.merchant,
    expires_at: intent.expires_at,
    single_use: intent.single_use,
    status: intent.status,
    reason_codes: intent.reason_codes,
    policy_revision: intent.policy_revision,
    iat: Math.floor(nowMs / 1000),
  });
}

async function resolveAuthority(
  ctx: EngineContext,
  orgId: string,
  agent: Agent,
  req: NormalizedIntentRequest,
): Promise<SpendingAuthority | null> {
  if (req.authority_id !== null) {
    const authority = await ctx.store.getAuthority(orgId, req.authority_id);
    if (!authority || authority.agent_id !== agent.id) throw new AppError('not_found', 'authority not found');
    return authority;
  }
  let cursor: string | undefined;
  let fallback: SpendingAuthority | null = null;
  do {
    const page = await ctx.store.listAuthorities(orgId, { limit: 100, agent_id: agent.id, cursor });
    for (const a of page.items) {
      if (a.currency !== req.currency) continue;
      if (a.status === 'active') return a;
      fallback ??= a;
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return fallback;
}

async function decideIntent(
  ctx: EngineContext,
  orgId: string,
  req: NormalizedIntentRequest,
  nowMs: number,
  policyOverride?: LoadedPolicy | PolicySet,
): Promise<{
  decision: PolicyDecision;
  authority: SpendingAuthority | null;
  revision: string;
  /** Builds the shadow comparison of the intent once its id is known; null without a shadow candidate. */
  shadow?: ((intentId: string) => ShadowObservation) | null;
}> {
  const agent = await getAgent(ctx, orgId, req.agent_id);
  const authority = await resolveAuthority(ctx, orgId, agent, req);
  const policies: PolicySet = toPolicySet(policyOverride) ?? ctx.policies.forOrg(orgId);
  if (!authority) {
    return {
      decision: { action: 'DENY', reasons: ['authority_not_found'] },
      authority: null,
      revision: policies.active.revision,
    };
  }
  const usage = await ctx.store.getUsage(orgId, authority.id, periodsAt(nowMs, authority.time_zone));
  const now = isoTime(nowMs);
  const input = buildIntentInput({ now, orgId, request: req, agent, authority, usage });
  let base: PolicyDecision;
  try {
    base = policies.active.evaluateIntent(input);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('policy_evaluation_failed', 'policy evaluation failed', { cause: err });
  }
  const org = policies.org ?? null;
  let decision = layerDecisions(
    base,
    org ? evaluateOrgPolicy(ctx, orgId, org, 'intent', () => org.evaluateIntent(input)) : null,
  );
  const hard = intentHardReasons(now, agent.status, authority, req, usage);
  decision = combineIntent(decision, hard, authority, req.max_amount);
  // An org shadow candidate is compared later, off this path (ShadowRecorder); the caller queues it once
  // the intent is stored, with its id.
  const candidate = policies.orgShadow ?? null;
  const shadow =
    candidate && ctx.shadow && !policyOverride
      ? (intentId: string): ShadowObservation => ({
          orgId,
          activeRevision: org?.revision ?? null,
          candidate,
          active: intentOutcome(decision, req.max_amount),
          decide: (onError) =>
            intentOutcome(
              combineIntent(
                layerDecisions(base, evaluateOrgIntent(candidate, input, onError)),
                hard,
                authority,
                req.max_amount,
              ),
              req.max_amount,
            ),
          sample: {
            kind: 'intent',
            processor_id: null,
            authorization_id: null,
            intent_id: intentId,
            at: now,
            agent_id: agent.id,
            merchant_id: req.merchant.id ?? null,
          },
        })
      : null;
  return { decision, authority, revision: policies.active.revision, shadow };
}

function newIntent(
  orgId: string,
  req: NormalizedIntentRequest,
  decision: PolicyDecision,
  authority: SpendingAuthority | null,
  revision: string,
  nowMs: number,
): Intent {
  const maxAmount =
    decision.action === 'ALLOW_WITH_LIMITS' && decision.approved_amount !== undefined
      ? Math.min(decision.approved_amount, req.max_amount)
      : req.max_amount;
  return {
    id: newId(ID_PREFIX.intent, nowMs),
    org_id: orgId,
    agent_id: req.agent_id,
    authority_id: authority?.id ?? null,
    description: req.description,
    max_amount: maxAmount,
    currency: req.currency,
    merchant: req.merchant,
    expires_at: req.expires_at,
    single_use: req.single_use,
    status: STATUS_BY_ACTION[decision.action],
    consumed_amount: 0,
    consumptions: {},
    reason_codes: [...decision.reasons].sort(),
    policy_revision: revision,
    version: 0,
    created_at: isoTime(nowMs),
    updated_at: isoTime(nowMs),
  };
}

/**
 * Validates what an agent intends to buy against the intent policy and stores the intent as
 * approved, denied or pending_approval (STEP_UP), with a signed mandate.
 */
export async function validateIntent(
  ctx: EngineContext,
  orgId: string,
  body: unknown,
  actor?: Actor,
): Promise<IntentResult> {
  const req = parseIntentRequest(body);
  const nowMs = ctx.clock.now();
  const { decision, authority, revision, shadow } = await decideIntent(ctx, orgId, req, nowMs);
  const intent = newIntent(orgId, req, decision, authority, revision, nowMs);
  await ctx.store.insertIntent(
    intent,
    auditDraft(ctx, {
      orgId,
      type: `intent.${intent.status}` as 'intent.approved' | 'intent.denied' | 'intent.pending_approval',
      subject: { kind: 'intent', id: intent.id },
      agentId: intent.agent_id,
      payload: { intent: intentPayload(intent), action: decision.action },
      actor,
      atMs: nowMs,
    }),
  );
  if (shadow) ctx.shadow?.observe(shadow(intent.id));
  const view = intentView(intent, nowMs);
  return {
    intent: view,
    action: decision.action,
    reason_codes: view.reason_codes,
    mandate: signMandate(ctx, view, nowMs),
  };
}

/** An intent as an audit payload: everything but the per-authorization consumption ledger. */
function intentPayload(intent: Intent): Record<string, unknown> {
  const { consumptions: _consumptions, version: _version, ...rest } = intent;
  return rest;
}

/**
 * The decision an intent would get, with no intent stored and no mandate. The simulation itself is
 * recorded in the audit trail as `simulation.intent`.
 */
export async function simulateIntent(
  ctx: EngineContext,
  orgId: string,
  body: unknown,
  policy?: LoadedPolicy | PolicySet,
  actor?: Actor,
): Promise<{ action: Action; reason_codes: string[]; status: IntentStatus; policy_revision: string; simulated: true }> {
  const req = parseIntentRequest(body);
  const nowMs = ctx.clock.now();
  const { decision, revision } = await decideIntent(ctx, orgId, req, nowMs, policy);
  const result = {
    action: decision.action,
    reason_codes: [...decision.reasons].sort(),
    status: STATUS_BY_ACTION[decision.action],
    policy_revision: revision,
    simulated: true as const,
  };
  const drafts = auditDraft(ctx, {
    orgId,
    type: 'simulation.intent',
    subject: { kind: 'simulation', id: req.agent_id },
    agentId: req.agent_id,
    payload: { ...result, request: JSON.parse(JSON.stringify(req)) },
    actor,
    atMs: nowMs,
  });
  if (drafts) await ctx.store.appendAuditDrafts(drafts);
  return result;
}

/** The intent, or `not_found`. */
export async function getIntent(ctx: EngineContext, orgId: string, id: string): Promise<IntentView> {
  const intent = await ctx.store.getIntent(orgId, id);
  if (!intent) throw new AppError('not_found', 'intent not found');
  return intentView(intent, ctx.clock.now());
}

/** A page of an org's intents; filter by status or agent. */
export async function listIntents(ctx: EngineContext, orgId: string, query?: unknown): Promise<Page<IntentView>> {
  const page = await ctx.store.listIntents(orgId, parseListQuery(query));
  const now = ctx.clock.now();
  return { items: page.items.map((i) => intentView(i, now)), next_cursor: page.next_cursor };
}

async function transition(
  ctx: EngineContext,
  orgId: string,
  id: string,
  from: IntentStatus[],
  to: IntentStatus,
  actor?: Actor,
): Promise<IntentResult> {
  const nowMs = ctx.clock.now();
  const stored = await ctx.store.getIntent(orgId, id);
  if (!stored) throw new AppError('not_found', 'intent not found');
  const current = intentView(stored, nowMs);
  let intent = stored;
  if (current.status !== to) {
    if (!from.includes(current.status))
      throw new AppError('invalid_state', `cannot move a ${current.status} intent to ${to}`);
    const updated = await ctx.store.updateIntent(
      orgId,
      id,
      stored.version,
      { status: to, updated_at: isoTime(nowMs) },
      auditDraft(ctx, {
        orgId,
        type: to === 'approved' ? 'intent.approved' : 'intent.cancelled',
        subject: { kind: 'intent', id },
        agentId: stored.agent_id,
        payload: { previous_status: current.status, approved_by: to === 'approved' ? (actor ?? 'system') : null },
        actor,
        atMs: nowMs,
      }),
    );
    if (!updated) throw new AppError('not_found', 'intent not found');
    intent = updated;
  }
  const view = intentView(intent, nowMs);
  const action: Action = view.status === 'approved' ? 'ALLOW' : 'DENY';
  return { intent: view, action, reason_codes: view.reason_codes, mandate: signMandate(ctx, view, nowMs) };
}

/** A human approves a pending intent (after a STEP_UP); returns the new mandate. */
export function approveIntent(ctx: EngineContext, orgId: string, id: string, actor?: Actor): Promise<IntentResult> {
  return transition(ctx, orgId, id, ['pending_approval'], 'approved', actor);
}

/** Cancels an approved or pending intent; later authorizations naming it are denied. */
export function cancelIntent(ctx: EngineContext, orgId: string, id: string, actor?: Actor): Promise<IntentResult> {
  return transition(ctx, orgId, id, ['approved', 'pending_approval'], 'cancelled', actor);
}
