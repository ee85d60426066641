import { AppError, isAppError } from '../errors/index.js';
import { emptyWindow, type Reservation, type StorageAdapter } from '../storage/index.js';
import type {
  Agent,
  AuthorizationRecord,
  CredentialBinding,
  Decision,
  SpendingAuthority,
  UsageSnapshot,
} from '../types.js';
import { isoTime } from '../util/clock.js';
import { digestId, ID_PREFIX } from '../util/ids.js';
import { releaseApprovalUse } from './approvals.js';
import type { Actor } from './audit-drafts.js';
import { DEFAULT_STAND_IN, holdPeriodMs } from './authorities.js';
import {
  decisionDraft,
  decisionEventId,
  isPlainRequest,
  plainReservationIdFor,
  reservationIdFor,
  signDecision,
} from './authorize.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import type { EngineContext } from './context.js';
import { hardReasons, stepUpRequired } from './decide.js';
import type { SpooledDecision, StandInSpool } from './stand-in-spool.js';
import { periodsAt, WINDOWS } from './windows.js';

/** What the last authorize that reached the store resolved for a credential: binding → agent → authority. */
export interface Resolution {
  binding: CredentialBinding;
  agent: Agent;
  authority: SpendingAuthority;
}

/** The store reads of one authorize, seen by its budgeted store (see authorize-budget.ts). */
export interface ObservedReads {
  binding?: CredentialBinding | null;
  agent?: Agent | null;
  authority?: SpendingAuthority | null;
  /** The last read of the authorization found it pending: a twin request is deciding it. */
  pendingTwin: boolean;
}

/** Entries of the resolution cache; the oldest are dropped beyond this. */
const CACHE_SIZE = 10_000;

/** How a request names its credential: by binding id or by credential reference. */
type Lookup = Pick<NormalizedAuthorizeRequest, 'binding_id' | 'credential_reference'>;

function cacheKey(processorId: string, req: Lookup): string {
  return req.binding_id !== null
    ? `${processorId}\u0000id\u0000${req.binding_id}`
    : `${processorId}\u0000ref\u0000${req.credential_reference}`;
}

/**
 * The attempt number under which a stand-in decision is recorded: far above any attempt a server makes, so
 * its reservation id never collides with one of theirs.
 */
export const STAND_IN_ATTEMPT = 1_000_000;

/**
 * The reservation id of one stand-in decision's hold: the same on every drain of that decision, and its own
 * among the stand-ins of one authorization id. Two servers (or workers) that each answered a stand-in for
 * the id during one outage hold under different ids, so the drain that replaces the other's record gives
 * back only the other's hold and then records its own.
 */
export function standInReservationIdFor(processorId: string, authorizationId: string, decisionId: string): string {
  return digestId(ID_PREFIX.reservation, `${processorId}\u0000${authorizationId}\u0000stand_in\u0000${decisionId}`, 40);
}

/**
 * Stand-in processing: decisions without the store, from the resolution last seen, spooled durably and
 * drained into the store once it answers again.
 */
export class StandIn {
  private readonly cache = new Map<string, Resolution>();
  private readonly deciding = new Map<string, { request_sha256: string; promise: Promise<Decision> }>();
  private draining: Promise<number> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: EngineContext,
    readonly spool: StandInSpool,
  ) {}

  /** Remembers what a completed authorize resolved (only a complete, consistent resolution). */
  remember(processorId: string, req: Lookup, seen: ObservedReads): void {
    const { binding, agent, authority } = seen;
    const key = cacheKey(processorId, req);
    if (!binding || !agent || !authority || binding.processor_id !== processorId) {
      // The store said there is nothing to spend through: forget what was known.
      if (seen.binding === null || seen.agent === null || seen.authority === null) this.cache.delete(key);
      return;
    }
    if (binding.agent_id !== agent.id || binding.authority_id !== authority.id || authority.agent_id !== agent.id) {
      return;
    }
    this.cache.delete(key);
    this.cache.set(key, { binding, agent, authority });
    if (this.cache.size > CACHE_SIZE) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  /** Drops every cached resolution naming this agent, authority or binding id. */
  forget(id: string): void {
    for (const [key, r] of this.cache) {
      if (r.binding.id === id || r.agent.id === id || r.authority.id === id) this.cache.delete(key);
    }
  }

  /** True when a stand-in for the authorization id is spooled or being made. */
  decided(processorId: string, authorizationId: string): boolean {
    return (
      this.deciding.has(`${processorId}\u0000${authorizationId}`) ||
      this.spool.find(processorId, authorizationId) !== undefined
    );
  }

  /** The pending spooled decision of an authorization id (a processor retrying during an outage). */
  spooled(processorId: string, authorizationId: string): SpooledDecision | undefined {
    return this.spool.find(processorId, authorizationId);
  }

  /**
   * Decides from the cached resolution, signs, spools durably and returns the stand-in decision. A
   * request the cache knows nothing about is a DENY.
   */
  decide(
    processorId: string,
    req: NormalizedAuthorizeRequest,
    requestSha: string,
    actor: Actor | undefined,
  ): Promise<Decision> {
    // One stand-in per authorization id: a twin that ran out of budget at the same time, or later, gets
    // the decision already made.
    const key = `${processorId}\u0000${req.authorization_id}`;
    const made = this.deciding.get(key) ?? this.spool.find(processorId, req.authorization_id);
    if (made) {
      if (made.request_sha256 !== requestSha) {
        return Promise.reject(
          new AppError('idempotency_mismatch', 'authorization_id was already used with a different request', {
            details: { authorization_id: req.authorization_id },
          }),
        );
      }
      return 'promise' in made ? made.promise : Promise.resolve(made.decision);
    }
    const promise = this.decideNew(processorId, req, requestSha, actor).finally(() => this.deciding.delete(key));
    this.deciding.set(key, { request_sha256: requestSha, promise });
    return promise;
  }

  private async decideNew(
    processorId: string,
    req: NormalizedAuthorizeRequest,
    requestSha: string,
    actor: Actor | undefined,
  ): Promise<Decision> {
    const ctx = this.ctx;
    const known = this.cache.get(cacheKey(processorId, req)) ?? null;
    const nowMs = ctx.clock.now();
    const verdict = known ? standInVerdict(nowMs, req, known) : { approved: 0, partial: false };
    const allowed = verdict.approved > 0;
    const orgId = known?.binding.org_id ?? null;
    const reasons = allowed
      ? verdict.partial
        ? ['partially_approved', 'stand_in_store_unavailable']
        : ['stand_in_store_unavailable']
      : ['stand_in_store_unavailable'];
    const decision = signDecision(
      ctx,
      processorId,
      req,
      requestSha,
      {
        action: allowed ? (verdict.partial ? 'ALLOW_WITH_LIMITS' : 'ALLOW') : 'DENY',
        reasons,
        approvedAmount: verdict.approved,
        orgId,
        agentId: known?.agent.id ?? null,
        policyRevision: null,
        orgPolicyRevision: null,
        bindingId: known?.binding.id ?? null,
        authorityId: known?.authority.id ?? null,
        intentId: null,
        holdPeriodMs: holdPeriodMs(ctx, known?.authority),
      },
      nowMs,
      false,
      decisionEventId(ctx, orgId, nowMs),
      true,
    );
    let reservation: Reservation | null = null;
    if (allowed && known) {
      const periods = periodsAt(nowMs, known.authority.time_zone);
      const windows = {} as Reservation['windows'];
      // No limits: the hold is recorded as it was answered, even past a window's limit.
      for (const w of WINDOWS) windows[w] = { period: periods[w], amount_limit: null, count_limit: null };
      reservation = {
        reservation_id: standInReservationIdFor(processorId, req.authorization_id, decision.decision_id),
        amount: verdict.approved,
        windows,
      };
    }
    try {
      await this.spool.append({
        kind: 'decision',
        processor_id: processorId,
        // The credential reference stays out of the spool: the decision names the binding.
        request: { ...req, credential_reference: null },
        request_sha256: requestSha,
        decision,
        reservation,
        actor: actor ?? null,
      });
    } catch (err) {
      // Not on disk, so never answered: the store is unavailable and so is the stand-in.
      ctx.logger.error('stand_in_spool_failed', { authorization_id: req.authorization_id, error: String(err) });
      throw new AppError('storage_unavailable', 'the store is unavailable and the stand-in spool cannot be written', {
        cause: err,
      });
    }
    ctx.logger.warn('stand_in_decision', {
      processor_id: processorId,
      authorization_id: req.authorization_id,
      action: decision.action,
      approved_amount: decision.approved_amount,
    });
    return decision;
  }

  /**
   * Writes every spooled decision into the store, exactly once: the authorization record, its hold
   * (without a limit check) and its audit event. Concurrent calls share one pass. Resolves with the number
   * of decisions drained; a store failure stops the pass (the rest stays spooled for the next one).
   */
  drain(): Promise<number> {
    this.draining ??= this.drainAll().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  /** Starts the background drainer (every `standInDrainIntervalMs` while something is spooled). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.spool.size === 0) return;
      this.drain().catch((err: unknown) => this.ctx.logger.warn('stand_in_drain_failed', { error: String(err) }));
    }, this.ctx.config.standInDrainIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.draining?.catch(() => {});
  }

  private async drainAll(): Promise<number> {
    let n = 0;
    for (const entry of this.spool.list()) {
      if ((await drainOne(this.ctx, entry)) === 'later') continue;
      await this.spool.markDrained(entry);
      n++;
    }
    if (n > 0) this.ctx.logger.info('stand_in_drained', { decisions: n, left: this.spool.size });
    return n;
  }
}

/**
 * The stand-in rule of the cached authority: ALLOW_UP_TO approves a request of at most `max_amount`
 * (or exactly `max_amount` as a partial approval when both sides allow one), only when the engine's own
 * checks (statuses, validity, currency, per-transaction limit, merchant rules) pass, no intent is required
 * and no human is: an amount above `step_up_above`, or a request naming an approval (which cannot be
 * checked or used without the store), is a DENY.
 */
function standInVerdict(
  nowMs: number,
  req: NormalizedAuthorizeRequest,
  known: Resolution,
): { approved: number; partial: boolean } {
  const { authority, agent, binding } = known;
  const rule = authority.stand_in ?? DEFAULT_STAND_IN;
  const deny = { approved: 0, partial: false };
  if (rule.action !== 'ALLOW_UP_TO' || rule.max_amount === null) return deny;
  // Usage is unknown without the store: the windows are not checked (the documented overshoot), every
  // other rule of the authority is.
  if (hardReasons(isoTime(nowMs), req, agent, binding.status, authority, UNKNOWN_USAGE, null).length > 0) return deny;
  if (authority.require_intent || req.intent_id !== null) return deny;
  // A human's confirmation is what the authority asks above its threshold: never replaced by a stand-in.
  if (req.approval_id !== undefined || stepUpRequired(authority, req.amount, false)) return deny;
  if (req.amount <= rule.max_amount) return { approved: req.amount, partial: false };
  if (authority.partial_approval && req.partial_approval_supported) return { approved: rule.max_amount, partial: true };
  return deny;
}

const NO_USE = emptyWindow('');
const UNKNOWN_USAGE: UsageSnapshot = { daily: NO_USE, weekly: NO_USE, monthly: NO_USE, total: NO_USE };

/**
 * Gives back what a replaced record may still hold; replay-safe. Every attempt up to the one replaced, not
 * only the last: an attempt that took over and died before giving back its predecessor's hold left it.
 */
async function releaseEarlier(
  ctx: EngineContext,
  processorId: string,
  authorizationId: string,
  rec: NonNullable<AuthorizationRecord['superseded']>,
  standIn: Decision,
): Promise<void> {
  const { store } = ctx;
  // The approval a replaced attempt used: the stand-in that now stands did not approve with it (a stand-in
  // denies every request naming one), so the payment it was for has not been made and it is usable again.
  if (rec.approval_id && !standIn.allowed) await releaseApprovalUse(ctx, rec.approval_id, processorId, authorizationId);
  if (rec.org_id === null) return;
  const ids = new Set([rec.reservation_id]);
  if (rec.attempt !== undefined && rec.attempt < STAND_IN_ATTEMPT) {
    for (let a = 1; a <= rec.attempt; a++) ids.add(reservationIdFor(processorId, authorizationId, a));
  }
  for (const id of ids) {
    if (rec.authority_id !== null) await store.releaseUsage(rec.org_id, rec.authority_id, id);
    if (rec.intent_id !== null) await store.releaseIntent(rec.org_id, rec.intent_id, id);
  }
}

/** The log fields of a spooled decision dropped in favour of the stored record `existing`. */
function dropped(entry: SpooledDecision, existing: AuthorizationRecord): Record<string, unknown> {
  return {
    processor_id: entry.processor_id,
    authorization_id: entry.request.authorization_id,
    decision_id: entry.decision.decision_id,
    stored_decision_id: existing.decision?.decision_id ?? null,
  };
}

/** True when stand-in decision `d` approves more than the stored stand-in record `existing`. */
function approvesMore(d: Decision, existing: AuthorizationRecord): boolean {
  if (!d.allowed) return false;
  return existing.status !== 'approved' || d.approved_amount > existing.approved_amount;
}

/**
 * Gives back the hold a plain attempt of the spooled request may have left without a record (its reserve
 * landed, its record did not); replay-safe. Called only once the spooled record is stored.
 */
async function releasePlainHold(store: StorageAdapter, entry: SpooledDecision): Promise<void> {
  const d = entry.decision;
  if (d.org_id === null || d.authority_id === null || !isPlainRequest(entry.request)) return;
  const id = plainReservationIdFor(entry.processor_id, entry.request.authorization_id, entry.request_sha256);
  await store.releaseUsage(d.org_id, d.authority_id, id);
}

/**
 * Writes one spooled decision into the store; safe to repeat. The spooled decision was answered, so it
 * is the authorization's decision: a record found in its place (an attempt that was cut off by the
 * deadline and whose writes landed later) is replaced by compare-and-set, and only after winning it is
 * what that attempt held given back. A pending record whose lease has not run out yet belongs to a live
 * attempt: the entry is left for a later pass ('later').
 */
async function drainOne(ctx: EngineContext, entry: SpooledDecision): Promise<'done' | 'later'> {
  const { store } = ctx;
  const d = entry.decision;
  const nowMs = ctx.clock.now();
  // Entries spooled before stand-ins had their own reservation ids carry the attempt's id: kept as spooled.
  const reservationId =
    entry.reservation?.reservation_id ??
    standInReservationIdFor(entry.processor_id, entry.request.authorization_id, d.decision_id);
  const record: AuthorizationRecord = {
    processor_id: entry.processor_id,
    authorization_id: entry.request.authorization_id,
    org_id: d.org_id,
    status: d.allowed ? 'approved' : 'declined',
    request_sha256: entry.request_sha256,
    reservation_id: reservationId,
    attempt: STAND_IN_ATTEMPT,
    lease_until: null,
    authority_id: d.authority_id,
    intent_id: null,
    agent_id: d.agent_id,
    amount: d.amount,
    approved_amount: d.approved_amount,
    captured_amount: 0,
    currency: d.currency,
    hold_open: d.allowed,
    hold_expires_at: d.expires_at,
    decision: d,
    policy_input: null,
    version: 0,
    created_at: d.created_at,
    updated_at: isoTime(nowMs),
  };
  const drafts = () =>
    decisionDraft(ctx, d.org_id, d, entry.request, Date.parse(d.created_at), entry.actor ?? undefined);
  for (;;) {
    const existing = await store.getAuthorization(entry.processor_id, entry.request.authorization_id);
    if (existing === null) {
      const claimed = await store.claimAuthorization(record, drafts());
      if (!claimed.created) continue;
      // A plain attempt cut off by the deadline may have reserved before its record was refused: the
      // spooled record now stands for good, so no record can ever own that hold.
      await releasePlainHold(store, entry);
      break;
    }
    if (existing.decision?.decision_id === d.decision_id) {
      // Written by an earlier pass, which may have stopped before giving back what it replaced.
      if (existing.superseded) {
        await releaseEarlier(ctx, entry.processor_id, entry.request.authorization_id, existing.superseded, d);
      }
      await releasePlainHold(store, entry);
      break;
    }
    if (existing.request_sha256 !== entry.request_sha256) {
      // The same authorization id was used for another request: the stored one keeps it.
      ctx.logger.error('stand_in_conflict', {
        processor_id: entry.processor_id,
        authorization_id: entry.request.authorization_id,
        decision_id: d.decision_id,
      });
      return 'done';
    }
    if (existing.status === 'captured' || existing.status === 'reversed') {
      // Someone acted on the stored decision: it stays, and so does its ledger.
      ctx.logger.error('stand_in_superseded', dropped(entry, existing));
      return 'done';
    }
    if (existing.status === 'pending' && existing.lease_until !== null) {
      // Judged like any take-over: only once this engine has seen the claim unchanged for the whole lease on
      // its own monotonic clock, never by comparing the holder's lease time with this server's clock.
      const unchangedMs = ctx.claimSightings.unchangedFor(existing, ctx.elapsed());
      if (unchangedMs < ctx.config.claimLeaseMs) return 'later'; // a live attempt may still hold it
      ctx.claimSightings.forget(existing);
    }
    if (existing.attempt === STAND_IN_ATTEMPT && !approvesMore(d, existing)) {
      // Another server's stand-in for the same request, drained first: the processor may have acted on
      // either answer, so the one approving more stands (and holds); this one is dropped.
      ctx.logger.warn('stand_in_duplicate', dropped(entry, existing));
      return 'done';
    }
    const superseded = {
      org_id: existing.org_id,
      authority_id: existing.authority_id,
      intent_id: existing.intent_id,
      reservation_id: existing.reservation_id,
      attempt: existing.attempt,
      approval_id: existing.approval_id ?? null,
    };
    const { version: _v, created_at: _c, ...rest } = record;
    const patch = { ...rest, superseded };
    try {
      const taken = await store.updateAuthorization(
        entry.processor_id,
        entry.request.authorization_id,
        { version: existing.version },
        patch,
        drafts(),
      );
      if (!taken) continue;
    } catch (err) {
      if (isAppError(err, 'conflict')) continue;
      throw err;
    }
    await releaseEarlier(ctx, entry.processor_id, entry.request.authorization_id, superseded, d);
    await releasePlainHold(store, entry);
    break;
  }
  if (entry.reservation && d.org_id !== null && d.authority_id !== null) {
    await store.reserveUsage(d.org_id, d.authority_id, entry.reservation);
  }
  return 'done';
}
