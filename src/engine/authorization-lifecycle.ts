import { AppError, isAppError } from '../errors/index.js';
import { captureRequestSchema, compileValidator } from '../schemas/index.js';
import type { Page } from '../storage/index.js';
import type { AuthorizationRecord, AuthorizationStatus } from '../types.js';
import { isoTime } from '../util/clock.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { parseListQuery } from './list-query.js';

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
  currency: string;
  agent_id: string | null;
  authority_id: string | null;
  binding_id: string | null;
  intent_id: string | null;
  decision_id: string | null;
  hold_expires_at: string | null;
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
    currency: r.currency,
    agent_id: r.agent_id,
    authority_id: r.authority_id,
    binding_id: r.decision?.binding_id ?? null,
    intent_id: r.intent_id,
    decision_id: r.decision?.decision_id ?? null,
    hold_expires_at: r.hold_open ? r.hold_expires_at : null,
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
  const keep = rec.status === 'captured' ? rec.captured_amount : undefined;
  await ctx.store.releaseUsage(rec.org_id, rec.authority_id, rec.reservation_id, keep);
  if (rec.intent_id !== null) {
    // A capture keeps what it captured on the intent too, so a multi-use intent gets the rest back.
    await ctx.store.releaseIntent(rec.org_id, rec.intent_id, rec.reservation_id, keep);
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

/** A processor's view of one of its authorizations. */
export async function getAuthorization(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
): Promise<AuthorizationView> {
  return authorizationView(await requireRecord(ctx, processorId, authorizationId));
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
          current = await moveApproved(ctx, current, { status: 'expired' }, undefined);
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
