import { AppError, isAppError } from '../errors/index.js';
import { compileValidator, incrementRequestSchema } from '../schemas/index.js';
import type { Reservation } from '../storage/index.js';
import type { AuthorizationIncrement, AuthorizationRecord, IncrementDecision, SpendingAuthority } from '../types.js';
import { isoTime } from '../util/clock.js';
import { sha256Hex } from '../util/hash.js';
import { ID_PREFIX, isTestId, newId } from '../util/ids.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import { holdPeriodMs } from './authorities.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { periodsAt, WINDOWS } from './windows.js';

const validateIncrement = compileValidator<{ increment_id: string; amount: number }>(incrementRequestSchema);

/** Compare-and-set attempts on the record before giving up with `conflict` (each lost one means another writer won). */
const CAS_ATTEMPTS = 64;

/** The reservation id of an increment: the same on every server, distinct from every attempt's. */
export function incrementReservationId(processorId: string, authorizationId: string, incrementId: string): string {
  return `${ID_PREFIX.reservation}_${sha256Hex(`${processorId}\u0000${authorizationId}\u0000increment\u0000${incrementId}`).slice(0, 40)}`;
}

/**
 * How much of a capture of `captured` each reservation of `rec` keeps, in order: the authorization's own
 * (up to its first decision's approved amount), then each approved increment (up to its amount). A
 * reservation of an increment that was not approved, or never decided, keeps nothing. `undefined` (a
 * reversal or an expiry) gives everything back.
 */
export function keepsOf(
  rec: AuthorizationRecord,
  captured: number | undefined,
): { reservationId: string; keep: number | undefined }[] {
  let left = captured;
  const take = (amount: number): number | undefined => {
    if (left === undefined) return undefined;
    const keep = Math.min(left, amount);
    left -= keep;
    return keep;
  };
  const base = rec.decision?.approved_amount ?? rec.approved_amount;
  const out = [{ reservationId: rec.reservation_id, keep: take(base) }];
  for (const inc of rec.increments ?? []) {
    const approved = inc.decision?.allowed === true;
    // A full release of an id never reserved ends it, so an increment still deciding holds nothing later.
    out.push({ reservationId: inc.reservation_id, keep: approved ? take(inc.amount) : undefined });
  }
  return out;
}

/** What refuses an increment of `amount` on `rec`, whatever the windows say; empty when none. */
function incrementReasons(
  nowIso: string,
  rec: AuthorizationRecord,
  authority: SpendingAuthority | null,
  agentStatus: string | null,
  bindingStatus: string | null,
  amount: number,
): string[] {
  if (!authority) return ['authority_not_found'];
  const reasons: string[] = [];
  if (agentStatus !== 'active') reasons.push('agent_not_active');
  if (bindingStatus !== 'active') reasons.push('binding_not_active');
  if (authority.status !== 'active') reasons.push('authority_not_active');
  if (authority.valid_until !== null && nowIso >= authority.valid_until) reasons.push('authority_expired');
  if (authority.currency !== rec.currency) reasons.push('currency_not_allowed');
  const total = rec.approved_amount + amount;
  const perTx = authority.limits.per_transaction;
  if (perTx !== null && total > perTx) reasons.push('per_transaction_limit_exceeded');
  if (authority.step_up_above !== null && total > authority.step_up_above) reasons.push('step_up_required');
  return reasons.sort();
}

function signIncrement(
  ctx: EngineContext,
  rec: AuthorizationRecord,
  incrementId: string,
  amount: number,
  requestSha: string,
  reasons: string[],
  approvedAmount: number,
  expiresAt: string | null,
  nowMs: number,
): IncrementDecision {
  const allowed = reasons.length === 0;
  // Fields in ascending key order: canonical JSON, like a decision.
  const body: Omit<IncrementDecision, 'proof'> = {
    action: allowed ? 'ALLOW' : 'DENY',
    allowed,
    amount,
    approved_amount: approvedAmount,
    authority_id: rec.authority_id,
    authorization_id: rec.authorization_id,
    created_at: isoTime(nowMs),
    currency: rec.currency,
    decision_id: newId(ID_PREFIX.decision, nowMs),
    expires_at: expiresAt,
    increment_id: incrementId,
    livemode: !isTestId(rec.processor_id),
    org_id: rec.org_id,
    processor_id: rec.processor_id,
    reason_codes: reasons,
    request_sha256: requestSha,
  };
  return { ...body, proof: ctx.sign(body) };
}

async function readRecord(ctx: EngineContext, processorId: string, authorizationId: string) {
  const rec = await ctx.store.getAuthorization(processorId, authorizationId);
  if (!rec) throw new AppError('not_found', 'authorization not found');
  return rec;
}

/**
 * An incremental authorization: raises the open hold of an approved authorization by `amount` (hotels,
 * car rental), idempotent per `increment_id`. The increment is first listed on the record (a
 * compare-and-set), so whatever it reserves is given back when the hold ends, even after a crash; then
 * `amount` more is reserved atomically in every window under the increment's own reservation id (no
 * further transaction is counted); then the signed decision and the new approved amount are stored by a
 * compare-and-set on an approved record. A refused increment leaves the authorization as it was.
 */
export async function increment(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  body: unknown,
  actor?: Actor,
): Promise<IncrementDecision> {
  const input = validateIncrement(cloneInput(body ?? {}));
  const requestSha = sha256Hex(JSON.stringify({ amount: input.amount, increment_id: input.increment_id }));
  const reservationId = incrementReservationId(processorId, authorizationId, input.increment_id);
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const rec = await readRecord(ctx, processorId, authorizationId);
    const listed = rec.increments?.find((x) => x.increment_id === input.increment_id);
    if (listed && listed.request_sha256 !== requestSha) {
      throw new AppError('idempotency_mismatch', 'increment_id was already used with a different request', {
        details: { increment_id: input.increment_id },
      });
    }
    if (listed?.decision) return listed.decision;
    if (rec.status !== 'approved' || !rec.hold_open || rec.org_id === null) {
      throw new AppError('invalid_state', `cannot increment a ${rec.status} authorization`);
    }
    const nowMs = ctx.clock.now();
    if (!listed) {
      const entry = {
        increment_id: input.increment_id,
        reservation_id: reservationId,
        amount: input.amount,
        request_sha256: requestSha,
        decision: null,
      } as unknown as AuthorizationIncrement;
      // Listed first (or re-read after losing the race to list it), then decided on the next pass.
      await cas(ctx, rec, { increments: [...(rec.increments ?? []), entry], updated_at: isoTime(nowMs) });
      continue;
    }
    return await decide(ctx, rec, listed, nowMs, actor);
  }
  throw new AppError('conflict', 'the authorization changed concurrently; retry');
}

/** Checks, reserves and stores the decision of a listed increment; retries on a concurrent change. */
async function decide(
  ctx: EngineContext,
  listedOn: AuthorizationRecord,
  inc: AuthorizationIncrement,
  nowMs: number,
  actor: Actor | undefined,
): Promise<IncrementDecision> {
  const orgId = listedOn.org_id as string;
  const [authority, agent, binding] = await Promise.all([
    listedOn.authority_id !== null ? ctx.store.getAuthority(orgId, listedOn.authority_id) : Promise.resolve(null),
    listedOn.agent_id !== null ? ctx.store.getAgent(orgId, listedOn.agent_id) : Promise.resolve(null),
    listedOn.decision?.binding_id ? ctx.store.getBinding(orgId, listedOn.decision.binding_id) : Promise.resolve(null),
  ]);
  const nowIso = isoTime(nowMs);
  const reasons = incrementReasons(
    nowIso,
    listedOn,
    authority,
    agent?.status ?? null,
    binding?.status ?? null,
    inc.amount,
  );
  if (reasons.length === 0 && authority) {
    const periods = periodsAt(nowMs, authority.time_zone);
    const windows = {} as Reservation['windows'];
    for (const w of WINDOWS) {
      windows[w] = { period: periods[w], amount_limit: authority.limits[w], count_limit: authority.velocity[w] };
    }
    const reserved = await ctx.store.reserveUsage(orgId, authority.id, {
      reservation_id: inc.reservation_id,
      amount: inc.amount,
      count: 0,
      windows,
    });
    if (reserved.status === 'limit_exceeded') reasons.push(`${reserved.window}_limit_exceeded`);
  }
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const rec = i === 0 ? listedOn : await readRecord(ctx, listedOn.processor_id, listedOn.authorization_id);
    const current = rec.increments?.find((x) => x.increment_id === inc.increment_id);
    if (current?.decision) return current.decision;
    if (rec.status !== 'approved' || !rec.hold_open) {
      // The hold ended meanwhile: its release covers this increment's reservation (it is listed).
      throw new AppError('invalid_state', `cannot increment a ${rec.status} authorization`);
    }
    const allowed = reasons.length === 0;
    const approvedAmount = allowed ? rec.approved_amount + inc.amount : rec.approved_amount;
    const extended = isoTime(nowMs + holdPeriodMs(ctx, authority));
    const expiresAt =
      allowed && (rec.hold_expires_at === null || rec.hold_expires_at < extended) ? extended : rec.hold_expires_at;
    const decision = signIncrement(
      ctx,
      rec,
      inc.increment_id,
      inc.amount,
      inc.request_sha256,
      reasons,
      approvedAmount,
      expiresAt,
      nowMs,
    );
    const increments = (rec.increments ?? []).map((x) =>
      x.increment_id === inc.increment_id ? { ...x, decision } : x,
    );
    const drafts =
      rec.org_id === null
        ? undefined
        : auditDraft(ctx, {
            orgId: rec.org_id,
            type: 'authorization.incremented',
            subject: { kind: 'authorization', id: `${rec.processor_id}/${rec.authorization_id}` },
            agentId: rec.agent_id,
            payload: { increment: decision, previous_approved_amount: rec.approved_amount },
            actor,
            atMs: nowMs,
          });
    const patch: Partial<AuthorizationRecord> = { increments, updated_at: isoTime(nowMs) };
    if (allowed) {
      patch.approved_amount = approvedAmount;
      patch.hold_expires_at = expiresAt;
    }
    if (await cas(ctx, rec, patch, drafts)) return decision;
  }
  throw new AppError('conflict', 'the authorization changed concurrently; retry');
}

async function cas(
  ctx: EngineContext,
  rec: AuthorizationRecord,
  patch: Partial<AuthorizationRecord>,
  drafts?: ReturnType<typeof auditDraft>,
): Promise<boolean> {
  try {
    const moved = await ctx.store.updateAuthorization(
      rec.processor_id,
      rec.authorization_id,
      { version: rec.version },
      patch,
      drafts,
    );
    if (!moved) throw new AppError('not_found', 'authorization not found');
    return true;
  } catch (err) {
    if (isAppError(err, 'conflict')) return false;
    throw err;
  }
}
