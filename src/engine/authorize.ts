import type { AuditDraft } from '../audit/index.js';
import { lastJwsParts } from '../crypto/index.js';
import { AppError, isAppError } from '../errors/index.js';
import { type Reservation, type UsageReadHints, vouchProof } from '../storage/index.js';
import type { Approval, AuthorizationRecord, Decision } from '../types.js';
import { isoTime } from '../util/clock.js';
import { sha256Hex } from '../util/hash.js';
import { digestId, ID_PREFIX, isTestId, newId, newSequentialId } from '../util/ids.js';
import { approvalDraft, openApproval, releaseApprovalUse, useApproval } from './approvals.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import { holdPeriodMs } from './authorities.js';
import { canonicalRequest, type NormalizedAuthorizeRequest, parseAuthorizeRequest } from './authorize-request.js';
import type { EngineContext } from './context.js';
import {
  type AuthorizationEvaluation,
  evaluateAuthorization,
  evaluateResolved,
  type ResolutionWave,
  type Resolved,
  resolveAuthorization,
} from './evaluate-authorization.js';
import { assertProcessorActive } from './processors.js';
import { WINDOWS } from './windows.js';

const ALLOWED = new Set(['ALLOW', 'ALLOW_WITH_LIMITS']);

/** The reservation id of one attempt at an authorization: the same on every server. */
export function reservationIdFor(processorId: string, authorizationId: string, attempt: number): string {
  return digestId(ID_PREFIX.reservation, `${processorId}\u0000${authorizationId}\u0000${attempt}`, 40);
}

/**
 * The reservation id of a plain authorization's first write (see {@link reserveThenRecord}): the same on
 * every server and for every duplicate of one request, and never an id of the claim path (its last part is
 * the request hash, not an attempt number), so a different request under the same authorization id never
 * shares it.
 */
export function plainReservationIdFor(processorId: string, authorizationId: string, requestSha: string): string {
  return `${ID_PREFIX.reservation}_${sha256Hex(`${processorId}\u0000${authorizationId}\u0000${requestSha}`).slice(0, 40)}`;
}

/**
 * Whether a request decides by reserving first and then inserting its final record (no pending claim): it
 * names no intent and no approval, whose consumption and use need the claim's fencing.
 */
export function isPlainRequest(req: NormalizedAuthorizeRequest): boolean {
  return req.intent_id === null && req.approval_id === undefined;
}

/** Builds and signs the decision returned to the processor. */
export function signDecision(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  requestSha: string,
  ev: Pick<
    AuthorizationEvaluation,
    'action' | 'reasons' | 'approvedAmount' | 'orgId' | 'agentId' | 'policyRevision' | 'orgPolicyRevision'
  > & {
    bindingId: string | null;
    authorityId: string | null;
    intentId: string | null;
    /** How long an approval holds; default the engine's hold period. */
    holdPeriodMs?: number;
    /** The approval a STEP_UP opened (with its expiry), or the approval an approved payment used. */
    approval?: { id: string; expiresAt: string | null } | null;
  },
  nowMs: number,
  simulated: boolean,
  auditEventId: string | null = null,
  standIn = false,
): Decision {
  const allowed = ALLOWED.has(ev.action);
  // Fields in ascending key order (here and with the proof below): the decision is then in canonical
  // order already, which makes hashing it into the audit chain a native JSON.stringify.
  const body: Omit<Decision, 'proof'> = {
    action: ev.action,
    agent_id: ev.agentId,
    allowed,
    amount: req.amount,
    approval_expires_at: ev.approval?.expiresAt ?? null,
    approval_id: ev.approval?.id ?? null,
    approved_amount: allowed ? ev.approvedAmount : 0,
    audit_event_id: auditEventId,
    authority_id: ev.authorityId,
    authorization_id: req.authorization_id,
    binding_id: ev.bindingId,
    created_at: isoTime(nowMs),
    currency: req.currency,
    decision_id: newId(ID_PREFIX.decision, nowMs),
    expires_at: allowed && !simulated ? isoTime(nowMs + (ev.holdPeriodMs ?? ctx.config.holdPeriodMs)) : null,
    intent_id: ev.intentId,
    livemode: !isTestId(processorId),
    org_id: ev.orgId,
    org_policy_revision: ev.orgPolicyRevision,
    policy_revision: ev.policyRevision,
    processor_id: processorId,
    reason_codes: ev.reasons,
    request_sha256: requestSha,
    simulated,
    stand_in: standIn,
  };
  const proof = ctx.sign(body);
  const decision: Decision = {
    action: body.action,
    agent_id: body.agent_id,
    allowed: body.allowed,
    amount: body.amount,
    approval_expires_at: body.approval_expires_at,
    approval_id: body.approval_id,
    approved_amount: body.approved_amount,
    audit_event_id: body.audit_event_id,
    authority_id: body.authority_id,
    authorization_id: body.authorization_id,
    binding_id: body.binding_id,
    created_at: body.created_at,
    currency: body.currency,
    decision_id: body.decision_id,
    expires_at: body.expires_at,
    intent_id: body.intent_id,
    livemode: body.livemode,
    org_id: body.org_id,
    org_policy_revision: body.org_policy_revision,
    policy_revision: body.policy_revision,
    processor_id: body.processor_id,
    proof,
    reason_codes: body.reason_codes,
    request_sha256: body.request_sha256,
    simulated: body.simulated,
    stand_in: body.stand_in,
  };
  // The engine's signer makes the proof's payload the JSON of `body`: a store keeping the proof apart from
  // the fields may rely on it instead of decoding the payload again.
  vouchProof(decision, body, lastJwsParts(proof));
  return decision;
}

/**
 * What {@link signDecision} reads of an evaluation and its verdict, picked field by field: spreading the
 * whole evaluation into a fresh object was a measurable part of every decision.
 */
function signedFields(
  ev: AuthorizationEvaluation,
  verdict: Pick<AuthorizationEvaluation, 'action' | 'reasons' | 'approvedAmount'>,
  ids: { bindingId: string | null; authorityId: string | null; intentId: string | null },
  holdMs: number,
  approval: { id: string; expiresAt: string | null } | null,
): Parameters<typeof signDecision>[4] {
  return {
    action: verdict.action,
    reasons: verdict.reasons,
    approvedAmount: verdict.approvedAmount,
    orgId: ev.orgId,
    agentId: ev.agentId,
    policyRevision: ev.policyRevision,
    orgPolicyRevision: ev.orgPolicyRevision,
    bindingId: ids.bindingId,
    authorityId: ids.authorityId,
    intentId: ids.intentId,
    holdPeriodMs: holdMs,
    approval,
  };
}

function reservationOf(ev: AuthorizationEvaluation, reservationId: string, amount: number): Reservation {
  const authority = ev.authority as NonNullable<AuthorizationEvaluation['authority']>;
  const periods = ev.periods as NonNullable<AuthorizationEvaluation['periods']>;
  const windows = {} as Reservation['windows'];
  for (const w of WINDOWS) {
    windows[w] = { period: periods[w], amount_limit: authority.limits[w], count_limit: authority.velocity[w] };
  }
  return { reservation_id: reservationId, amount, windows };
}

/** What a decided record adds to a fresh one (see {@link freshRecord}). */
interface Outcome {
  status: AuthorizationRecord['status'];
  approvedAmount: number;
  holdOpen: boolean;
  holdExpiresAt: string | null;
  decision: Decision;
}

/**
 * A record of this attempt, pending, or decided with `outcome`: one literal, the keys always in the same
 * order, rather than a pending record spread into a decided one.
 */
function freshRecord(
  processorId: string,
  req: NormalizedAuthorizeRequest,
  requestSha: string,
  ev: AuthorizationEvaluation,
  nowMs: number,
  attempt: number,
  reservationId: string,
  outcome: Outcome | null = null,
): AuthorizationRecord {
  const now = isoTime(nowMs);
  return {
    processor_id: processorId,
    authorization_id: req.authorization_id,
    org_id: ev.orgId,
    status: outcome ? outcome.status : 'pending',
    request_sha256: requestSha,
    reservation_id: reservationId,
    attempt,
    lease_until: null,
    authority_id: ev.authority?.id ?? null,
    intent_id: ev.intent?.id ?? null,
    agent_id: ev.agentId,
    amount: req.amount,
    approved_amount: outcome ? outcome.approvedAmount : 0,
    captured_amount: 0,
    currency: req.currency,
    hold_open: outcome ? outcome.holdOpen : false,
    hold_expires_at: outcome ? outcome.holdExpiresAt : null,
    decision: outcome ? outcome.decision : null,
    policy_input: ev.policyInput,
    ...(req.approval_id !== undefined ? { approval_id: req.approval_id } : {}),
    version: 0,
    created_at: now,
    updated_at: now,
  };
}

/** The id of the audit event of a decision, or null when it has none (audit off, or no org to file it under). */
export function decisionEventId(ctx: EngineContext, orgId: string | null, nowMs: number): string | null {
  return ctx.auditEnabled && orgId !== null ? newSequentialId(ID_PREFIX.auditEvent, nowMs) : null;
}

const EVENT_BY_ACTION = {
  ALLOW: 'authorization.approved',
  ALLOW_WITH_LIMITS: 'authorization.approved',
  DENY: 'authorization.declined',
  STEP_UP: 'authorization.step_up',
} as const;

/** The audit event of a decision; undefined when the decision has no event id. */
export function decisionDraft(
  ctx: EngineContext,
  orgId: string | null,
  decision: Decision,
  req: NormalizedAuthorizeRequest,
  nowMs: number,
  actor: Actor | undefined,
): AuditDraft[] | undefined {
  if (decision.audit_event_id === null || orgId === null) return undefined;
  return auditDraft(ctx, {
    id: decision.audit_event_id,
    orgId,
    type: decision.simulated ? 'simulation.authorization' : EVENT_BY_ACTION[decision.action],
    subject: decision.simulated
      ? { kind: 'simulation', id: decision.decision_id }
      : { kind: 'authorization', id: `${decision.processor_id}/${decision.authorization_id}` },
    agentId: decision.agent_id,
    // The decision as returned (its proof verifies against the JWKS) and what was asked, without the
    // credential reference (the decision names the binding).
    payload: {
      decision,
      request: { channel: req.channel, intent_id: req.intent_id, merchant: req.merchant },
    },
    actor,
    atMs: nowMs,
  });
}

/** The drafts of a decided record: its decision's, and `approval.requested` when its STEP_UP opened one. */
function decisionDrafts(
  ctx: EngineContext,
  rec: AuthorizationRecord,
  req: NormalizedAuthorizeRequest,
  nowMs: number,
  actor: Actor | undefined,
): AuditDraft[] | undefined {
  const decision = rec.decision as Decision;
  const drafts = decisionDraft(ctx, decision.org_id, decision, req, nowMs, actor);
  if (!rec.approval) return drafts;
  const requested = approvalDraft(ctx, rec, rec.approval, 'approval.requested', nowMs, actor, {
    reason_codes: decision.reason_codes,
    decision_id: decision.decision_id,
  });
  return drafts && requested ? [...drafts, ...requested] : (drafts ?? requested);
}

/**
 * Adds `approval.used` to the drafts of the decision that keeps an approval's use: the event is written
 * with that decision, never by an attempt that fails or is taken over after using it.
 */
function withUseDraft(
  ctx: EngineContext,
  drafts: AuditDraft[] | undefined,
  use: { steppedUp: AuthorizationRecord; used: Approval } | null,
  rec: AuthorizationRecord,
  nowMs: number,
  actor: Actor | undefined,
): AuditDraft[] | undefined {
  if (!use) return drafts;
  const decision = rec.decision as Decision;
  const usedDraft = approvalDraft(ctx, use.steppedUp, use.used, 'approval.used', nowMs, actor, {
    used_by: { processor_id: rec.processor_id, authorization_id: rec.authorization_id },
    decision_id: decision.decision_id,
    approved: decision.approved_amount,
  });
  return drafts && usedDraft ? [...drafts, ...usedDraft] : (drafts ?? usedDraft);
}

/** A handler for a promise whose outcome is seen elsewhere: made once, not per authorize. */
function settledAnyway(): undefined {
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `POST /v1/authorize` as a function (docs/architecture.md, the data flow of one authorization). Idempotent per (processor, authorization_id):
 * the same body returns the stored decision, another body fails with `idempotency_mismatch`.
 * An approval holds budget atomically; losing a race is a DENY (`limit_exceeded_concurrent`), never
 * an overspend. Order of writes: claim the id (pending) → reserve usage → consume the intent → store the
 * signed decision, conditional on the claimed version. A pending claim that this process has seen
 * unchanged for the lease (or that its holder gave up) is taken over by a compare-and-set on its version;
 * only the winner then gives back what the earlier attempts held. An attempt whose claim was taken over
 * cannot store its decision: it reads the winner's instead.
 */
export async function authorize(
  ctx: EngineContext,
  processorId: string,
  body: unknown,
  actor?: Actor,
): Promise<Decision> {
  const req = parseAuthorizeRequest(body);
  const requestSha = sha256Hex(canonicalRequest(req));
  // One read wave: the processor check, the stored record and the resolution reads (binding, agent,
  // authority, intent, usage) go out together. A replay of a decided id returns its stored decision
  // without evaluating (the resolution reads it sent are dropped); a new id (the common case) decides on
  // what this wave read, with no sequential read before its first write.
  const nowMs = ctx.clock.now();
  // A plain request reserves under a known id next: the usage read may look that id up at once.
  const usageHints: UsageReadHints = isPlainRequest(req)
    ? { reservationId: plainReservationIdFor(processorId, req.authorization_id, requestSha) }
    : {};
  let proceed!: (go: boolean) => void;
  const wave: ResolutionWave = {
    proceed: new Promise<boolean>((resolve) => {
      proceed = resolve;
    }),
  };
  const resolution = resolveAuthorization(ctx, processorId, req, nowMs, usageHints, wave);
  // A failure of the resolution is seen only where it is used.
  const settled = resolution.then(settledAnyway, settledAnyway);
  let stored: AuthorizationRecord | null;
  try {
    // Read by index: destructuring would walk an iterator (and allocate its steps) on every authorize.
    stored = (
      await Promise.all([
        assertProcessorActive(ctx, processorId),
        ctx.store.getAuthorization(processorId, req.authorization_id),
      ])
    )[1];
  } catch (err) {
    proceed(false);
    await settled;
    throw err;
  }
  // A replay (or a twin's wait) drops the resolution: it starts no further read, and the reads it sent
  // are awaited, in the same round trip, so that none outlives this request (nor holds a pooled
  // connection the next request needs).
  proceed(stored === null);
  if (stored) await settled;
  // What this wave read is used only by the first decision on an id found absent: every later attempt
  // (a lost claim, a take-over after a wait) reads again.
  let preRead: PreRead | null = stored ? null : { nowMs, resolution, usageHints };
  // A real wait, so measured on the monotonic clock rather than the injected one.
  const deadline = performance.now() + ctx.config.duplicateWaitMs;
  let existing: AuthorizationRecord | null = stored;
  let abandoned: AuthorizationRecord | null = null;
  for (;;) {
    if (existing) {
      const outcome = await resolveExisting(ctx, existing, requestSha, deadline);
      if (outcome.kind === 'decided') return outcome.decision;
      if (outcome.kind === 'retry') {
        existing = await ctx.store.getAuthorization(processorId, req.authorization_id);
        continue;
      }
      abandoned = existing;
    }
    const result = await decideAndRecord(ctx, processorId, req, requestSha, abandoned, actor, preRead);
    preRead = null;
    if ('decision' in result) return result.decision;
    existing = result.existing ?? (await ctx.store.getAuthorization(processorId, req.authorization_id));
    abandoned = null;
  }
}

type ExistingOutcome = { kind: 'decided'; decision: Decision } | { kind: 'retry' } | { kind: 'take_over' };

async function resolveExisting(
  ctx: EngineContext,
  existing: AuthorizationRecord,
  requestSha: string,
  deadline: number,
): Promise<ExistingOutcome> {
  if (existing.request_sha256 !== requestSha) {
    throw new AppError('idempotency_mismatch', 'authorization_id was already used with a different request', {
      details: { authorization_id: existing.authorization_id },
    });
  }
  const sightings = ctx.claimSightings;
  if (existing.status !== 'pending' && existing.decision) {
    sightings.forget(existing);
    return { kind: 'decided', decision: existing.decision };
  }
  // A holder that gave up clears its lease: take over at once. Otherwise only once this process has seen
  // the claim unchanged for the whole lease; the holder may still be alive (slow), which the take-over's
  // compare-and-set makes harmless: its final write is conditional on the version taken over here.
  const unchangedMs = sightings.unchangedFor(existing, ctx.elapsed());
  if (existing.lease_until === null || unchangedMs >= ctx.config.claimLeaseMs) {
    sightings.forget(existing);
    return { kind: 'take_over' };
  }
  if (performance.now() >= deadline) {
    throw new AppError('idempotency_in_progress', 'a request with this authorization_id is still being decided');
  }
  await sleep(5);
  return { kind: 'retry' };
}

/** Gives back whatever one attempt may have held; replay-safe. Call only while holding the claim. */
async function releaseAttempt(ctx: EngineContext, rec: AuthorizationRecord, reservationId: string): Promise<void> {
  if (rec.org_id === null) return;
  if (rec.authority_id !== null) await ctx.store.releaseUsage(rec.org_id, rec.authority_id, reservationId);
  if (rec.intent_id !== null) await ctx.store.releaseIntent(rec.org_id, rec.intent_id, reservationId);
  if (rec.approval_id) await releaseApprovalUse(ctx, rec.approval_id, rec.processor_id, rec.authorization_id);
}

/**
 * After winning the take-over of `abandoned`: gives back what every earlier attempt may hold. Not only
 * the last one: a taker that died between its take-over and this step left its predecessor's hold.
 * A full release of an id that is not held yet also ends it, so a late reserve or consume of that
 * attempt (still running somewhere, only slow) applies nothing.
 */
async function releaseEarlierAttempts(ctx: EngineContext, abandoned: AuthorizationRecord): Promise<void> {
  for (let attempt = 1; attempt <= abandoned.attempt; attempt++) {
    await releaseAttempt(ctx, abandoned, reservationIdFor(abandoned.processor_id, abandoned.authorization_id, attempt));
  }
}

/**
 * Decides and writes. Returns the decision, or the record that was there first (null when it must be
 * read again) when the claim was lost.
 */
async function decideAndRecord(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  requestSha: string,
  abandoned: AuthorizationRecord | null,
  actor: Actor | undefined,
  preRead: PreRead | null,
  /** The plain reservation a reserve found already applied: the claim path gives it back once it wins. */
  applied: AppliedHold | null = null,
): Promise<{ decision: Decision } | { existing: AuthorizationRecord | null }> {
  const { store } = ctx;
  const nowMs = preRead ? preRead.nowMs : ctx.clock.now();
  const ev = preRead
    ? evaluateResolved(ctx, processorId, req, nowMs, await preRead.resolution)
    : await evaluateAuthorization(ctx, processorId, req, nowMs);
  const allowedByEvaluation = ALLOWED.has(ev.action);
  const holdMs = holdPeriodMs(ctx, ev.authority);
  if (allowedByEvaluation && !abandoned && !applied && isPlainRequest(req)) {
    // The id the first wave's usage read was told, else computed again (an attempt that read again).
    const reservationId =
      preRead?.usageHints.reservationId ?? plainReservationIdFor(processorId, req.authorization_id, requestSha);
    return reserveThenRecord(ctx, processorId, req, requestSha, ev, nowMs, holdMs, reservationId, actor);
  }
  const attempt = abandoned ? abandoned.attempt + 1 : 1;
  const record = freshRecord(
    processorId,
    req,
    requestSha,
    ev,
    nowMs,
    attempt,
    reservationIdFor(processorId, req.authorization_id, attempt),
  );
  const ids = {
    bindingId: ev.binding?.id ?? null,
    authorityId: ev.authority?.id ?? null,
    intentId: ev.intent?.id ?? null,
  };
  if (!allowedByEvaluation && !abandoned) {
    const eventId = decisionEventId(ctx, ev.orgId, nowMs);
    const approval = ev.action === 'STEP_UP' && ev.orgId !== null ? openApproval(ctx, req, nowMs) : null;
    const decision = signDecision(
      ctx,
      processorId,
      req,
      requestSha,
      signedFields(ev, ev, ids, holdMs, approval && { id: approval.id, expiresAt: approval.expires_at }),
      nowMs,
      false,
      eventId,
    );
    const final: AuthorizationRecord = { ...record, status: 'declined', decision, ...(approval ? { approval } : {}) };
    const res = await store.claimAuthorization(final, decisionDrafts(ctx, final, req, nowMs, actor));
    if (!res.created) return { existing: res.existing };
    // Sent after a plain reserve found its id applied: this declined record, now inserted, can never own
    // that hold, so it is given back (see reserveThenRecord).
    if (applied) {
      await store.releaseUsage(applied.orgId, applied.authorityId, applied.reservationId);
    } else if (preRead && isPlainRequest(req) && preRead.usageHints.applied !== false && ev.orgId && ev.authority) {
      // An earlier attempt of this request may have reserved and failed before its record (the usage read
      // found its id applied, or could not tell): no record can own that hold now.
      await store.releaseUsage(ev.orgId, ev.authority.id, preRead.usageHints.reservationId as string);
    }
    if (ev.shadow) ctx.shadow?.observe(ev.shadow);
    return { decision };
  }

  // Claim first, so exactly one attempt holds budget for this authorization id. The lease end is only a
  // hint for readers (no server compares it with its clock), taken after evaluation.
  const pending: AuthorizationRecord = {
    ...record,
    lease_until: isoTime(ctx.clock.now() + ctx.config.claimLeaseMs),
  };
  const written = await writeClaim(ctx, pending, abandoned);
  if (!('claimed' in written)) return written;
  const claimed = written.claimed;
  try {
    // The take-over is won: only now give back what the abandoned attempts held.
    if (abandoned) await releaseEarlierAttempts(ctx, abandoned);
    // A plain request that found its reservation id already applied (a duplicate in flight, or an earlier
    // attempt that stopped after reserving): now that this claim is inserted, no record can ever own
    // that hold, so it is given back here; this attempt holds under its own claim's id below.
    if (applied) await store.releaseUsage(applied.orgId, applied.authorityId, applied.reservationId);
    let verdict = { action: ev.action, reasons: ev.reasons, approvedAmount: ev.approvedAmount };
    let approvalUse: { steppedUp: AuthorizationRecord; used: Approval } | null = null;
    if (allowedByEvaluation) {
      const orgId = ev.orgId as string;
      const authority = ev.authority as NonNullable<typeof ev.authority>;
      const reserved = await store.reserveUsage(
        orgId,
        authority.id,
        reservationOf(ev, pending.reservation_id, ev.approvedAmount),
        // From the usage read for this decision. Only this attempt applies a first attempt's id: its claim
        // was created here, not taken over.
        { basis: ev.usage ?? undefined, unused: abandoned === null && pending.attempt === 1 },
      );
      if (reserved.status === 'limit_exceeded') {
        verdict = { action: 'DENY', reasons: ['limit_exceeded_concurrent'], approvedAmount: 0 };
      } else {
        // The approval is used by a compare-and-set: of two authorizations naming it, one gets it.
        const use =
          req.approval_id !== undefined
            ? await useApproval(ctx, processorId, req, orgId, ev.agentId as string, nowMs)
            : null;
        if (use?.used) approvalUse = { steppedUp: use.steppedUp, used: use.used };
        if (use && use.reasons.length > 0) {
          await store.releaseUsage(orgId, authority.id, pending.reservation_id);
          verdict = { action: 'DENY', reasons: use.reasons, approvedAmount: 0 };
        } else if (ev.intent) {
          const consumed = await store.consumeIntent(orgId, ev.intent.id, pending.reservation_id, ev.approvedAmount);
          if (consumed === 'rejected' || consumed === 'not_found') {
            await store.releaseUsage(orgId, authority.id, pending.reservation_id);
            if (req.approval_id !== undefined) {
              await releaseApprovalUse(ctx, req.approval_id, processorId, req.authorization_id);
            }
            verdict = { action: 'DENY', reasons: ['intent_consumed'], approvedAmount: 0 };
          }
        }
      }
    }
    const approval = verdict.action === 'STEP_UP' && ev.orgId !== null ? openApproval(ctx, req, nowMs) : null;
    const keptUse = approvalUse && ALLOWED.has(verdict.action) ? approvalUse : null;
    const usedApproval = keptUse ? { id: keptUse.used.id, expiresAt: null } : null;
    const decision = signDecision(
      ctx,
      processorId,
      req,
      requestSha,
      signedFields(
        ev,
        verdict,
        ids,
        holdMs,
        approval ? { id: approval.id, expiresAt: approval.expires_at } : usedApproval,
      ),
      nowMs,
      false,
      decisionEventId(ctx, ev.orgId, nowMs),
    );
    const allowed = decision.allowed;
    const final: AuthorizationRecord = {
      ...claimed,
      status: allowed ? 'approved' : 'declined',
      lease_until: null,
      approved_amount: decision.approved_amount,
      hold_open: allowed,
      hold_expires_at: decision.expires_at,
      decision,
      ...(approval ? { approval } : {}),
      updated_at: isoTime(nowMs),
    };
    // Conditional on the claimed version: an attempt whose claim was taken over stores nothing.
    const stored = await store.updateAuthorization(
      processorId,
      req.authorization_id,
      { version: claimed.version },
      final,
      withUseDraft(ctx, decisionDrafts(ctx, final, req, nowMs, actor), keptUse, final, nowMs, actor),
    );
    if (!stored) throw new AppError('storage_internal', 'claimed authorization disappeared');
    if (ev.shadow) ctx.shadow?.observe(ev.shadow);
    return { decision };
  } catch (err) {
    if (isAppError(err, 'conflict')) {
      // Another attempt took this claim over (this one was slow past its lease). What this attempt held
      // is the taker's to give back, after its own compare-and-set; read the winner's decision instead.
      return { existing: null };
    }
    await abandonClaim(ctx, claimed).catch((cleanupErr) =>
      ctx.logger.error('authorization_cleanup_failed', {
        authorization_id: req.authorization_id,
        error: String(cleanupErr),
      }),
    );
    throw err;
  }
}

/** What the first read wave of an authorize read for its first decision. */
interface PreRead {
  nowMs: number;
  resolution: Promise<Resolved>;
  /** The usage read's hints: the plain reservation id, and whether the store found it applied. */
  usageHints: UsageReadHints;
}

/** Where a plain reservation found already applied is held. */
interface AppliedHold {
  orgId: string;
  authorityId: string;
  reservationId: string;
}

/** Whether a decided record holds the given reservation: only an approval stored under that id does. */
function ownsHold(rec: AuthorizationRecord, reservationId: string): boolean {
  return rec.reservation_id === reservationId && rec.status !== 'pending' && rec.status !== 'declined';
}

/**
 * The write path of a plain approval (docs/architecture.md, the data flow of one authorization): reserve
 * under {@link plainReservationIdFor}, then insert the final record with the signed decision
 * (insert-if-absent), with no pending claim. Every duplicate of the request shares the reservation id, so
 * at most one hold exists. The insert decides whose decision stands:
 * - reserved, insert won: the record owns the hold.
 * - limit exceeded: a DENY `limit_exceeded_concurrent` record, holding nothing.
 * - insert lost to a record that cannot own the hold (declined, another request, a claim): no record can
 *   ever own it, since records are never removed; this attempt gives it back (replay-safe: of several
 *   losers one gives it back) and returns the stored record.
 * - already applied: a duplicate in flight or an earlier attempt that stopped after its reserve holds it,
 *   with an amount this attempt cannot know. It decides through the claim path instead, which gives that
 *   hold back only after its claim is inserted.
 * A failure after the reserve leaves the hold without a record; a retry of the request finds it applied
 * and takes the claim path, which gives it back.
 */
async function reserveThenRecord(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  requestSha: string,
  ev: AuthorizationEvaluation,
  nowMs: number,
  holdMs: number,
  reservationId: string,
  actor: Actor | undefined,
): Promise<{ decision: Decision } | { existing: AuthorizationRecord | null }> {
  const { store } = ctx;
  const orgId = ev.orgId as string;
  const authority = ev.authority as NonNullable<typeof ev.authority>;
  const reserved = await store.reserveUsage(orgId, authority.id, reservationOf(ev, reservationId, ev.approvedAmount), {
    basis: ev.usage ?? undefined,
  });
  if (reserved.status === 'already_applied') {
    const applied = { orgId, authorityId: authority.id, reservationId };
    const out = await decideAndRecord(ctx, processorId, req, requestSha, null, actor, null, applied);
    // Lost to a decided record that cannot own the hold: none ever will. A pending winner is a claim that
    // gives it back itself.
    if (
      'existing' in out &&
      out.existing &&
      out.existing.status !== 'pending' &&
      !ownsHold(out.existing, reservationId)
    ) {
      await store.releaseUsage(orgId, authority.id, reservationId);
    }
    return out;
  }
  const verdict =
    reserved.status === 'limit_exceeded'
      ? { action: 'DENY' as const, reasons: ['limit_exceeded_concurrent'], approvedAmount: 0 }
      : { action: ev.action, reasons: ev.reasons, approvedAmount: ev.approvedAmount };
  const decision = signDecision(
    ctx,
    processorId,
    req,
    requestSha,
    signedFields(
      ev,
      verdict,
      { bindingId: ev.binding?.id ?? null, authorityId: authority.id, intentId: null },
      holdMs,
      null,
    ),
    nowMs,
    false,
    decisionEventId(ctx, ev.orgId, nowMs),
  );
  const allowed = decision.allowed;
  // The first attempt's record, decided and holding under the plain reservation id.
  const final = freshRecord(processorId, req, requestSha, ev, nowMs, 1, reservationId, {
    status: allowed ? 'approved' : 'declined',
    approvedAmount: decision.approved_amount,
    holdOpen: allowed,
    holdExpiresAt: decision.expires_at,
    decision,
  });
  const res = await store.claimAuthorization(final, decisionDrafts(ctx, final, req, nowMs, actor));
  if (res.created) {
    if (ev.shadow) ctx.shadow?.observe(ev.shadow);
    return { decision };
  }
  if (allowed && !ownsHold(res.existing, reservationId)) {
    await store.releaseUsage(orgId, authority.id, reservationId);
  }
  return { existing: res.existing };
}

/**
 * On failure mid-way: give the claim up (its lease cleared, so the next attempt takes over at once) and,
 * only once that compare-and-set is won, give back what this attempt held. A lost compare-and-set means
 * another attempt took over and gives it back itself.
 */
async function abandonClaim(ctx: EngineContext, claimed: AuthorizationRecord): Promise<void> {
  try {
    await ctx.store.updateAuthorization(
      claimed.processor_id,
      claimed.authorization_id,
      { version: claimed.version },
      { lease_until: null },
    );
  } catch (err) {
    if (isAppError(err, 'conflict')) return;
    throw err;
  }
  await releaseAttempt(ctx, claimed, claimed.reservation_id);
}

/** Writes a fresh claim (insert-if-absent) or takes over an abandoned one (compare-and-set on its version). */
async function writeClaim(
  ctx: EngineContext,
  record: AuthorizationRecord,
  abandoned: AuthorizationRecord | null,
): Promise<{ claimed: AuthorizationRecord } | { existing: AuthorizationRecord | null }> {
  if (!abandoned) {
    const res = await ctx.store.claimAuthorization(record);
    return res.created ? { claimed: record } : { existing: res.existing };
  }
  try {
    const { version: _v, created_at: _c, ...patch } = record;
    const taken = await ctx.store.updateAuthorization(
      record.processor_id,
      record.authorization_id,
      { version: abandoned.version },
      patch,
    );
    return taken ? { claimed: taken } : { existing: null };
  } catch (err) {
    if (isAppError(err, 'conflict')) return { existing: null };
    throw err;
  }
}
