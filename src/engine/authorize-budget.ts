import { AppError, isAppError } from '../errors/index.js';
import { type ClaimResult, type StorageAdapter, toAppError } from '../storage/index.js';
import type { Agent, AuthorizationRecord, CredentialBinding, Decision, SpendingAuthority } from '../types.js';
import { sha256Hex } from '../util/hash.js';
import { tracingActive } from '../util/tracing.js';
import type { Actor } from './audit-drafts.js';
import { authorize } from './authorize.js';
import { canonicalRequest, type NormalizedAuthorizeRequest, parseAuthorizeRequest } from './authorize-request.js';
import type { EngineContext } from './context.js';
import { rethrow, storeBehind } from './guard-store.js';
import type { ObservedReads, StandIn } from './stand-in.js';
import { traceStoreCall } from './tracing.js';

/**
 * Kept back from the deadline for the stand-in answer itself: signing, the spool's fsync, and the event
 * loop delays of a busy server. The store calls get the rest (1250 ms of the default 1500).
 */
export function standInReserveMs(deadlineMs: number): number {
  return Math.min(250, Math.floor(deadlineMs / 5));
}

function deadlineError(): AppError {
  return new AppError('storage_unavailable', 'the store did not answer within the authorize deadline');
}

/**
 * What `expiry` rejects with once the authorize is over before its deadline: nothing reads it (the race
 * is settled), so one error serves every authorize instead of capturing a stack trace for each.
 */
const BUDGET_OVER = deadlineError();

// The handlers of every budget and race, made once rather than as fresh closures per authorize.
const ignore = (): void => {};
const asExpired = (): 'expired' => 'expired';
const asDecision = (decision: Decision): Outcome => ({ decision });
const asError = (error: unknown): Outcome => ({ error });

/**
 * The deadlines of the authorizations in flight, on one timer rather than one per authorize: the timer is
 * armed for the earliest deadline; when it fires, every budget past its deadline ends and the timer is armed
 * again for the earliest one left. A budget that ends early only leaves the set (the timer may still fire for
 * it and then finds nothing to end). While no budget is pending the timer does not hold the process open.
 * Deadlines are `performance.now()` milliseconds (monotonic).
 */
export class Deadlines {
  private readonly pending = new Set<Budget>();
  private timer: NodeJS.Timeout | null = null;
  /** The deadline the timer is armed for; Infinity when not armed. */
  private armedFor = Number.POSITIVE_INFINITY;

  /** How many budgets are pending. */
  get size(): number {
    return this.pending.size;
  }

  add(budget: Budget): void {
    if (this.pending.size === 0) this.timer?.ref();
    this.pending.add(budget);
    if (budget.deadline < this.armedFor) this.arm(budget.deadline);
  }

  delete(budget: Budget): void {
    if (this.pending.delete(budget) && this.pending.size === 0) this.timer?.unref();
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(() => this.fire(), Math.max(0, deadline - performance.now()));
    if (this.pending.size === 0) this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const budget of this.pending) {
      if (budget.deadline <= now) {
        this.pending.delete(budget);
        budget.end(deadlineError());
      } else if (budget.deadline < next) next = budget.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}

/** The deadlines of every authorize of this process. */
const deadlines = new Deadlines();

/** The budget of one authorize: `expiry` rejects when it runs out (or when the authorize is over). */
export class Budget {
  expired = false;
  readonly expiry: Promise<never>;
  /** When the budget runs out, in `performance.now()` milliseconds. */
  readonly deadline: number;
  private fail: (err: AppError) => void = ignore;

  constructor(
    ms: number,
    private readonly timers: Deadlines = deadlines,
  ) {
    this.expiry = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.expiry.catch(ignore);
    // A budget that is not a finite number of milliseconds (NaN from a bad receivedAt) ends at once.
    this.deadline = performance.now() + (Number.isFinite(ms) ? ms : 0);
    timers.add(this);
  }

  /** Ends the budget: on expiry with the deadline error, when the authorize is over with a shared one. */
  end(error: AppError = BUDGET_OVER): void {
    if (this.expired) return;
    this.expired = true;
    this.timers.delete(this);
    this.fail(error);
  }
}

/** The store methods whose results {@link note} reads. */
const NOTED = new Set(['findBinding', 'getAgent', 'getAuthority', 'getAuthorization', 'claimAuthorization']);

/** Notes what a settled store call tells about the resolution and about a twin request. */
function note(seen: ObservedReads, method: string, result: unknown): void {
  if (method === 'findBinding') seen.binding = result as CredentialBinding | null;
  else if (method === 'getAgent') seen.agent = result as Agent | null;
  else if (method === 'getAuthority') seen.authority = result as SpendingAuthority | null;
  else if (method === 'getAuthorization') {
    seen.pendingTwin = (result as AuthorizationRecord | null)?.status === 'pending';
  } else if (method === 'claimAuthorization') {
    const claim = result as ClaimResult;
    seen.pendingTwin = !claim.created && claim.existing.status === 'pending';
  }
}

interface BudgetedView {
  budget: Budget;
  seen: ObservedReads;
}

/** Per store: the methods of a budgeted view, built once (a view per authorize only sets its state). */
const viewPrototypes = new WeakMap<StorageAdapter, object>();

function viewPrototype(store: StorageAdapter): object {
  let proto = viewPrototypes.get(store);
  if (proto) return proto;
  proto = {};
  // A view of guardStore: untraced, its store is called directly and guarded here, in the step that notes.
  const inner = storeBehind(store);
  for (const method of Object.keys(store)) {
    const fn = (store as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') continue;
    const innerFn = inner && (inner as unknown as Record<string, unknown>)[method];
    const direct = typeof innerFn === 'function' ? (innerFn as (...a: unknown[]) => unknown) : null;
    const noted = NOTED.has(method);
    (proto as Record<string, unknown>)[method] = function (this: BudgetedView, ...args: unknown[]) {
      const { budget, seen } = this;
      if (budget.expired) return Promise.reject(deadlineError());
      if (direct !== null && !tracingActive()) {
        // What guardStore's call does (only AppError comes out), with the noting in the same step.
        let result: unknown;
        try {
          result = direct.apply(inner, args);
        } catch (err) {
          return Promise.reject(toAppError(err));
        }
        const call = result instanceof Promise ? result : Promise.resolve(result);
        return noted
          ? call.then((value) => {
              note(seen, method, value);
              return value;
            }, rethrow)
          : call.catch(rethrow);
      }
      // Untraced (the common case): the call itself, with no closure made for the tracer.
      const call = tracingActive()
        ? traceStoreCall(method, () => (fn as (...a: unknown[]) => Promise<unknown>).apply(store, args))
        : (fn as (...a: unknown[]) => Promise<unknown>).apply(store, args);
      // Only the calls `note` reads get a step of their own after them.
      return noted
        ? call.then((result) => {
            note(seen, method, result);
            return result;
          })
        : call;
    };
  }
  viewPrototypes.set(store, proto);
  return proto;
}

/**
 * A view of the store for one authorize: once the budget has run out, a call fails at once with
 * `storage_unavailable` and reaches no store, so the cut-off attempt writes nothing more. A call already
 * running is left to finish (nothing can recall what was sent; the driver's own timeouts end it); the
 * answer does not wait for it. Reads of the resolution are noted for the stand-in cache, and a pending
 * twin for the duplicate wait.
 */
function budgetedStore(store: StorageAdapter, budget: Budget, seen: ObservedReads): StorageAdapter {
  const view = Object.create(viewPrototype(store)) as BudgetedView;
  view.budget = budget;
  view.seen = seen;
  return view as unknown as StorageAdapter;
}

type Outcome = { decision: Decision } | { error: unknown } | 'expired';

/** What the resolution cache is keyed by, from a body authorize has validated. */
function lookupOf(body: unknown): { binding_id: string | null; credential_reference: string | null } {
  const b = body as { binding_id?: string; credential_reference?: string };
  return { binding_id: b.binding_id ?? null, credential_reference: b.credential_reference ?? null };
}

function parse(body: unknown): { req: NormalizedAuthorizeRequest; requestSha: string } {
  const req = parseAuthorizeRequest(body);
  return { req, requestSha: sha256Hex(canonicalRequest(req)) };
}

/**
 * authorize inside one time budget (`authorizeDeadlineMs`). A replay of an authorization id answered by
 * a stand-in that is still spooled gets that decision without the store. Otherwise the authorization runs
 * against the store; when the budget runs out or the store is unavailable, the answer is the stand-in
 * decision (signed, spooled durably before it is returned), or `storage_unavailable` when the engine has
 * no spool.
 */
export async function authorizeWithinBudget(
  ctx: EngineContext,
  standIn: StandIn | null,
  processorId: string,
  body: unknown,
  actor?: Actor,
  receivedAt?: number,
): Promise<Decision> {
  // The body is validated by authorize; it is parsed here only when a stand-in path needs it.
  const rawId = (body as { authorization_id?: unknown } | null)?.authorization_id;
  const spooled = typeof rawId === 'string' ? standIn?.spooled(processorId, rawId) : undefined;
  if (spooled) {
    const { req, requestSha } = parse(body);
    if (spooled.request_sha256 !== requestSha) {
      throw new AppError('idempotency_mismatch', 'authorization_id was already used with a different request', {
        details: { authorization_id: req.authorization_id },
      });
    }
    return spooled.decision;
  }
  const deadlineMs = ctx.config.authorizeDeadlineMs;
  const spent = receivedAt === undefined ? 0 : Math.max(0, performance.now() - receivedAt);
  const budget = new Budget(Math.max(0, deadlineMs - (standIn ? standInReserveMs(deadlineMs) : 0) - spent));
  const seen: ObservedReads = { pendingTwin: false };
  const scoped: EngineContext = { ...ctx, store: budgetedStore(ctx.store, budget, seen) };
  const work = authorize(scoped, processorId, body, actor);
  let outcome: Outcome;
  try {
    outcome = await Promise.race([work.then(asDecision, asError), budget.expiry.catch(asExpired)]);
  } finally {
    budget.end();
  }
  if (outcome !== 'expired') {
    if ('decision' in outcome) {
      standIn?.remember(processorId, lookupOf(body), seen);
      return outcome.decision;
    }
    if (!standIn || !isAppError(outcome.error, 'storage_unavailable')) throw outcome.error;
  } else {
    // The cut-off attempt unwinds on its own (its next store call fails); its outcome is no answer.
    work.catch((err: unknown) => ctx.logger.warn('authorize_cut_off', { authorization_id: rawId, error: String(err) }));
    if (seen.pendingTwin && !standIn?.decided(processorId, rawId as string)) {
      // The time went waiting for a twin request (here or on another server) still deciding this
      // authorization id: it answers, not a stand-in made beside it.
      throw new AppError('idempotency_in_progress', 'a request with this authorization_id is still being decided');
    }
    if (!standIn) throw deadlineError();
  }
  const { req, requestSha } = parse(body);
  return standIn.decide(processorId, req, requestSha, actor);
}
