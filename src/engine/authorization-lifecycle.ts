import { AppError, isAppError } from '../errors/index.js';
import {
  captureRequestSchema,
  compileValidator,
  orgAuthorizationQuerySchema,
  settlementRequestSchema,
} from '../schemas/index.js';
import type { Page } from '../storage/index.js';
import type { AuthorizationRecord, AuthorizationStatus, Settlement } from '../types.js';
import { isoTime } from '../util/clock.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { keepsOf } from './increments.js';
import { parseListQuery } from './list-query.js';
import { periodsAt } from './windows.js';

/** An authorization as shown to processors and enterprises (no policy input). */
export interface AuthorizationView {
  authorization_id: string;
  processor_id: string;
  org_id: string | null;
  status: AuthorizationStatus;
  action: string | null;
  reason_codes: string[];
  amount: number;
  approved_amount: number;
  captured_amount: number;
  refunded_amount: number;
  currency: string;
  agent_id: string | null;
  authority_id: string | null;
  binding_id: string | null;
  intent_id: string | null;
  decision_id: string | null;
  hold_expires_at: string | null;
  /** The approval its STEP_UP opened, or the approval it named. */
  approval_id: string | null;
  created_at: string;
  updated_at: string;
}

/** The public view of a stored authorization. */
export function authorizationView(r: AuthorizationRecord): AuthorizationView {
  return {
    authorization_id: r.authorization_id,
    processor_id: r.processor_id,
    org_id: r.org_id,
    status: r.status,
    action: r.decision?.action ?? null,
    reason_codes: r.decision?.reason_codes ?? [],
    amount: r.amount,
    approved_amount: r.approved_amount,
    captured_amount: r.captured_amount,
    refunded_amount: r.refunded_amount ?? 0,
    currency: r.currency,
    agent_id: r.agent_id,
    authority_id: r.authority_id,
    binding_id: r.decision?.binding_id ?? null,
    intent_id: r.intent_id,
    decision_id: r.decision?.decision_id ?? null,
    hold_expires_at: r.hold_open ? r.hold_expires_at : null,
    approval_id: r.approval?.id ?? r.approval_id ?? null,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

const validateCapture = compileValidator<{ amount?: number }>(captureRequestSchema);

async function requireRecord(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
): Promise<AuthorizationRecord> {
  const rec = await ctx.store.getAuthorization(processorId, authorizationId);
  if (!rec) throw new AppError('not_found', 'authorization not found');
  return rec;
}

/**
 * Gives back what a record in a final state still holds, then marks the hold closed. Replay-safe:
 * every step is keyed by the reservation id, so a crash at any point is finished by the next sweep.
 */
async function finishHold(ctx: EngineContext, rec: AuthorizationRecord): Promise<AuthorizationRecord> {
  if (!rec.hold_open || rec.org_id === null || rec.authority_id === null) return rec;
  // What stays spent of the hold: the captures, at most the hold itself (an over-capture beyond it was
  // added on its own by `settleCapture`), kept across the authorization's own reservation and one per
  // increment in order; anything else gives them all back.
  const keeps = keepsOf(
    rec,
    rec.status === 'captured' ? Math.min(rec.captured_amount, rec.approved_amount) : undefined,
  );
  for (const { reservationId, keep } of keeps) {
    await ctx.store.releaseUsage(rec.org_id, rec.authority_id, reservationId, keep);
  }
  if (rec.intent_id !== null) {
    // A capture keeps what it captured on the intent too, so a multi-use intent gets the rest back.
    await ctx.store.releaseIntent(rec.org_id, rec.intent_id, rec.reservation_id, keeps[0]?.keep);
  }
  try {
    return (
      (await ctx.store.updateAuthorization(
        rec.processor_id,
        rec.authorization_id,
        { version: rec.version },
        {
          hold_open: false,
          updated_at: isoTime(ctx.clock.now()),
        },
      )) ?? rec
    );
  } catch (err) {
    if (!isAppError(err, 'conflict')) throw err;
    return requireRecord(ctx, rec.processor_id, rec.authorization_id);
  }
}

const EVENT_BY_STATUS = {
  captured: 'authorization.captured',
  reversed: 'authorization.reversed',
  expired: 'authorization.expired',
} as const;

async function moveApproved(
  ctx: EngineContext,
  rec: AuthorizationRecord,
  patch: Partial<AuthorizationRecord> & { status: keyof typeof EVENT_BY_STATUS },
  actor: Actor | undefined,
): Promise<AuthorizationRecord> {
  const nowMs = ctx.clock.now();
  const captured = patch.captured_amount ?? 0;
  const events =
    rec.org_id === null
      ? undefined
      : auditDraft(ctx, {
          orgId: rec.org_id,
          type: EVENT_BY_STATUS[patch.status],
          subject: { kind: 'authorization', id: `${rec.processor_id}/${rec.authorization_id}` },
          agentId: rec.agent_id,
          payload: {
            processor_id: rec.processor_id,
            authorization_id: rec.authorization_id,
            decision_id: rec.decision?.decision_id ?? null,
            previous_status: rec.status,
            status: patch.status,
            currency: rec.currency,
            approved_amount: rec.approved_amount,
            captured_amount: captured,
            released_amount: rec.approved_amount - captured,
          },
          actor,
          atMs: nowMs,
        });
  try {
    const moved = await ctx.store.updateAuthorization(
      rec.processor_id,
      rec.authorization_id,
      { version: rec.version },
      { ...patch, updated_at: isoTime(nowMs) },
      events,
    );
    if (!moved) throw new AppError('not_found', 'authorization not found');
    return moved;
  } catch (err) {
    if (isAppError(err, 'conflict')) {
      throw new AppError('conflict', 'the authorization changed concurrently; read it and retry');
    }
    throw err;
  }
}

/**
 * Settles an approved authorization for `amount` (default: the approved amount, at most that) and
 * gives the rest of the hold back to the budget. Capturing again with the same amount returns the
 * same result; anything else after a capture is `invalid_state`.
 */
export async function capture(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  body: unknown = {},
  actor?: Actor,
): Promise<AuthorizationView> {
  const input = validateCapture(cloneInput(body ?? {}));
  const rec = await requireRecord(ctx, processorId, authorizationId);
  const amount = input.amount ?? rec.approved_amount;
  if (rec.status === 'captured' && rec.captured_amount === amount) return authorizationView(await finishHold(ctx, rec));
  if (rec.status !== 'approved') throw new AppError('invalid_state', `cannot capture a ${rec.status} authorization`);
  if (amount > rec.approved_amount) {
    throw new AppError('validation_failed', '/amount exceeds the approved amount', {
      details: [{ path: '/amount', message: `must be at most ${rec.approved_amount}`, keyword: 'maximum' }],
    });
  }
  const moved = await moveApproved(ctx, rec, { status: 'captured', captured_amount: amount }, actor);
  return authorizationView(await finishHold(ctx, moved));
}

/** Reverses an approved, uncaptured authorization: its whole hold and intent use are given back. Idempotent. */
export async function reverse(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  actor?: Actor,
): Promise<AuthorizationView> {
  const rec = await requireRecord(ctx, processorId, authorizationId);
  if (rec.status === 'reversed') return authorizationView(await finishHold(ctx, rec));
  if (rec.status !== 'approved') throw new AppError('invalid_state', `cannot reverse a ${rec.status} authorization`);
  const moved = await moveApproved(ctx, rec, { status: 'reversed' }, actor);
  return authorizationView(await finishHold(ctx, moved));
}

const validateSettlement = compileValidator<{ settlement_id: string; amount: number }>(settlementRequestSchema);

/** Outcome of {@link settleCapture} and {@link settleRefund}. */
export interface SettlementResult {
  /** `applied` the first time a transaction id is seen, `already_applied` on a replay. */
  outcome: 'applied' | 'already_applied';
  authorization: AuthorizationView;
}

/**
 * The periods the authorization's spend was counted in (those of its decision, in the authority's time
 * zone), for adjustments that follow a settlement after the hold ended.
 */
async function periodsOfRecord(ctx: EngineContext, rec: AuthorizationRecord) {
  const authority =
    rec.org_id !== null && rec.authority_id !== null
      ? await ctx.store.getAuthority(rec.org_id, rec.authority_id)
      : null;
  return periodsAt(Date.parse(rec.created_at), authority?.time_zone ?? 'UTC');
}

/** The adjustment id of a settlement: one per authorization attempt and processor transaction. */
function adjustmentId(rec: AuthorizationRecord, type: Settlement['type'], settlementId: string): string {
  return `adj:${rec.reservation_id}:${type}:${settlementId}`;
}

/**
 * Records a settlement on the authorization (compare-and-set on its version, with its audit draft), after any
 * ledger adjustment it needs was applied (idempotent per settlement, so a crash or a lost compare-and-set in
 * between is finished by the replay without counting twice).
 */
async function recordSettlement(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  input: { settlement_id: string; amount: number },
  type: Settlement['type'],
  actor: Actor | undefined,
): Promise<SettlementResult> {
  for (let attempt = 0; ; attempt++) {
    const rec = await requireRecord(ctx, processorId, authorizationId);
    if ((rec.settlements ?? []).some((x) => x.id === input.settlement_id && x.type === type)) {
      return { outcome: 'already_applied', authorization: authorizationView(rec) };
    }
    const refunded = rec.refunded_amount ?? 0;
    let amount = input.amount;
    let adjust = 0;
    if (type === 'capture') {
      // A capture settles whatever Allowance thought of the hold: after a reversal or an expiry (a processor
      // whose close arrived before its capture, or a late clearing) the money was spent all the same.
      if (rec.status === 'pending' || rec.status === 'declined') {
        throw new AppError('invalid_state', `cannot capture a ${rec.status} authorization`);
      }
      // What the open hold still covers moves from held to spent when it closes; the rest is spend of its own.
      const covered =
        rec.hold_open && rec.status === 'approved' ? Math.max(0, rec.approved_amount - rec.captured_amount) : 0;
      adjust = Math.max(0, amount - covered);
    } else {
      amount = Math.min(amount, rec.captured_amount - refunded);
      if (amount <= 0) throw new AppError('invalid_state', 'nothing captured is left to refund');
      adjust = -amount;
    }
    if (adjust !== 0 && rec.org_id !== null && rec.authority_id !== null) {
      await ctx.store.adjustUsage(rec.org_id, rec.authority_id, {
        adjustment_id: adjustmentId(rec, type, input.settlement_id),
        amount: adjust,
        periods: await periodsOfRecord(ctx, rec),
      });
    }
    const nowMs = ctx.clock.now();
    const settlement: Settlement = { id: input.settlement_id, type, amount, at: isoTime(nowMs) };
    const patch: Partial<AuthorizationRecord> = {
      settlements: [...(rec.settlements ?? []), settlement],
      updated_at: isoTime(nowMs),
    };
    if (type === 'capture') {
      patch.captured_amount = rec.captured_amount + amount;
      if (rec.status === 'reversed' || rec.status === 'expired') patch.status = 'captured';
    } else patch.refunded_amount = refunded + amount;
    const events =
      rec.org_id === null
        ? undefined
        : auditDraft(ctx, {
            orgId: rec.org_id,
            type: type === 'capture' ? 'authorization.partially_captured' : 'authorization.refunded',
            subject: { kind: 'authorization', id: `${rec.processor_id}/${rec.authorization_id}` },
            agentId: rec.agent_id,
            payload: {
              processor_id: rec.processor_id,
              authorization_id: rec.authorization_id,
              decision_id: rec.decision?.decision_id ?? null,
              status: rec.status,
              settlement_id: input.settlement_id,
              currency: rec.currency,
              amount,
              approved_amount: rec.approved_amount,
              captured_amount: patch.captured_amount ?? rec.captured_amount,
              refunded_amount: patch.refunded_amount ?? refunded,
              // Spend added (a capture beyond the open hold) or given back (a refund) in the usage windows.
              usage_adjustment: adjust,
            },
            actor,
            atMs: nowMs,
          });
    try {
      const moved = await ctx.store.updateAuthorization(
        rec.processor_id,
        rec.authorization_id,
        { version: rec.version },
        patch,
        events,
      );
      if (!moved) throw new AppError('not_found', 'authorization not found');
      return { outcome: 'applied', authorization: authorizationView(moved) };
    } catch (err) {
      if (!isAppError(err, 'conflict') || attempt >= 4) {
        if (isAppError(err, 'conflict')) {
          throw new AppError('conflict', 'the authorization changed concurrently; read it and retry');
        }
        throw err;
      }
    }
  }
}

/**
 * One capture of several (a processor's transaction `settlement_id` settling `amount` of the authorization).
 * While the hold is open the capture is only recorded (`captured_amount` grows; what it covers of the hold
 * stays held and becomes spent when {@link closeAuthorization} releases the rest); the part beyond the
 * open hold (an over-capture, or a capture settling after the hold ended) is added to the usage windows of
 * the authorization's periods. Applied once per `settlement_id`: a replay is `already_applied`.
 */
export async function settleCapture(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  body: unknown,
  actor?: Actor,
): Promise<SettlementResult> {
  const input = validateSettlement(cloneInput(body));
  return recordSettlement(ctx, processorId, authorizationId, input, 'capture', actor);
}

/**
 * A refund (the processor's transaction `settlement_id` giving back `amount`, at most what was captured
 * and not refunded yet): the amount is taken off the usage windows the spend was counted in, those of the
 * authorization's periods that are still current (a day that has ended is not credited again: its budget
 * is already a new one). Applied once per `settlement_id`. Intent use is not given back.
 */
export async function settleRefund(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  body: unknown,
  actor?: Actor,
): Promise<SettlementResult> {
  const input = validateSettlement(cloneInput(body));
  return recordSettlement(ctx, processorId, authorizationId, input, 'refund', actor);
}

/**
 * The processor says the authorization is closed: no more captures against its hold. An approved one
 * becomes `captured` for what its settlements captured (the rest of the hold is released) or `reversed`
 * when nothing was captured. Idempotent: a closed one is returned as it is (a half-done release finished).
 */
export async function closeAuthorization(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  actor?: Actor,
): Promise<AuthorizationView> {
  const rec = await requireRecord(ctx, processorId, authorizationId);
  if (rec.status === 'captured' || rec.status === 'reversed' || rec.status === 'expired') {
    return authorizationView(await finishHold(ctx, rec));
  }
  if (rec.status !== 'approved') throw new AppError('invalid_state', `cannot close a ${rec.status} authorization`);
  const moved =
    rec.captured_amount > 0
      ? await moveApproved(ctx, rec, { status: 'captured', captured_amount: rec.captured_amount }, actor)
      : await moveApproved(ctx, rec, { status: 'reversed' }, actor);
  return authorizationView(await finishHold(ctx, moved));
}

/** A processor's view of one of its authorizations. */
export async function getAuthorization(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
): Promise<AuthorizationView> {
  return authorizationView(await requireRecord(ctx, processorId, authorizationId));
}

const validateOrgGet = compileValidator<{ processor_id?: string }>(orgAuthorizationQuerySchema);

/**
 * An enterprise's view of one of its org's authorizations by `authorization_id`; never another org's
 * (`not_found`). An id used by several processors for the org's payments needs `processor_id`
 * (`authorization_ambiguous` lists them).
 */
export async function getOrgAuthorization(
  ctx: EngineContext,
  orgId: string,
  authorizationId: string,
  query: unknown = {},
): Promise<AuthorizationView> {
  const { processor_id: processorId } = validateOrgGet(cloneInput(query ?? {}));
  if (processorId !== undefined) {
    const rec = await ctx.store.getAuthorization(processorId, authorizationId);
    if (!rec || rec.org_id !== orgId) throw new AppError('not_found', 'authorization not found');
    return authorizationView(rec);
  }
  const found = await ctx.store.findOrgAuthorizations(orgId, authorizationId, 10);
  const only = found[0];
  if (!only) throw new AppError('not_found', 'authorization not found');
  if (found.length > 1) {
    throw new AppError('authorization_ambiguous', 'several processors used this authorization_id: name processor_id', {
      details: { processor_ids: found.map((r) => r.processor_id) },
    });
  }
  return authorizationView(only);
}

/** A page of an org's authorizations; filter by status or agent. */
export async function listAuthorizations(
  ctx: EngineContext,
  orgId: string,
  query?: unknown,
): Promise<Page<AuthorizationView>> {
  const page = await ctx.store.listAuthorizations(orgId, parseListQuery(query));
  return { items: page.items.map(authorizationView), next_cursor: page.next_cursor };
}

/** A page of a processor's own authorizations, of every org; filter by status or agent. */
export async function listProcessorAuthorizations(
  ctx: EngineContext,
  processorId: string,
  query?: unknown,
): Promise<Page<AuthorizationView>> {
  const page = await ctx.store.listProcessorAuthorizations(processorId, parseListQuery(query));
  return { items: page.items.map(authorizationView), next_cursor: page.next_cursor };
}

/**
 * Releases holds of approvals older than the hold period (status → expired) and finishes any release a
 * crash left half-done. Safe to run on every server at once. Returns how many holds it closed.
 */
export async function expireHolds(ctx: EngineContext, nowMs: number = ctx.clock.now(), batch = 100): Promise<number> {
  let closed = 0;
  for (;;) {
    const due = await ctx.store.listOpenHolds(isoTime(nowMs), batch);
    if (due.length === 0) return closed;
    let progressed = false;
    for (const rec of due) {
      let current = rec;
      if (current.status === 'approved') {
        try {
          // Captures recorded against the hold stay spent: the hold closes as captured for them.
          current =
            current.captured_amount > 0
              ? await moveApproved(
                  ctx,
                  current,
                  { status: 'captured', captured_amount: current.captured_amount },
                  undefined,
                )
              : await moveApproved(ctx, current, { status: 'expired' }, undefined);
        } catch (err) {
          if (isAppError(err, 'conflict')) continue;
          throw err;
        }
      }
      const done = await finishHold(ctx, current);
      if (!done.hold_open) {
        closed++;
        progressed = true;
      }
    }
    if (!progressed) return closed;
  }
}
