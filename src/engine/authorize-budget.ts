import { AppError, isAppError } from '../errors/index.js';
import type { ClaimResult, StorageAdapter } from '../storage/index.js';
import type { Agent, AuthorizationRecord, CredentialBinding, Decision, SpendingAuthority } from '../types.js';
import { sha256Hex } from '../util/hash.js';
import type { Actor } from './audit-drafts.js';
import { authorize } from './authorize.js';
import { canonicalRequest, parseAuthorizeRequest } from './authorize-request.js';
import type { EngineContext } from './context.js';
import type { ObservedReads, StandIn } from './stand-in.js';

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
 * A view of the store for one authorize: a call started after the budget ran out fails at once, and a
 * call still running when it runs out is abandoned (its promise rejects with `storage_unavailable`), so
 * the cut-off attempt unwinds instead of writing on. Reads of the resolution are noted for the stand-in
 * cache.
 */
function budgetedStore(store: StorageAdapter, signal: AbortSignal, seen: ObservedReads): StorageAdapter {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const cached = wrapped.get(prop);
      if (cached) return cached;
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = (...args: unknown[]): Promise<unknown> => {
        if (signal.aborted) return Promise.reject(deadlineError());
        const call = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        seen.inflight++;
        return new Promise((resolve, reject) => {
          const onAbort = () => reject(deadlineError());
          signal.addEventListener('abort', onAbort, { once: true });
          call.then(
            (result) => {
              seen.inflight--;
              signal.removeEventListener('abort', onAbort);
              if (prop === 'findBinding') seen.binding = result as CredentialBinding | null;
              else if (prop === 'getAgent') seen.agent = result as Agent | null;
              else if (prop === 'getAuthority') seen.authority = result as SpendingAuthority | null;
              else if (prop === 'getAuthorization') {
                seen.pendingTwin = (result as AuthorizationRecord | null)?.status === 'pending';
              } else if (prop === 'claimAuthorization') {
                const claim = result as ClaimResult;
                seen.pendingTwin = !claim.created && claim.existing.status === 'pending';
              }
              resolve(result);
            },
            (err: unknown) => {
              seen.inflight--;
              signal.removeEventListener('abort', onAbort);
              reject(err);
            },
          );
        });
      };
      wrapped.set(prop, fn);
      return fn;
    },
  });
}

type Outcome = { decision: Decision } | { error: unknown } | 'expired';

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
): Promise<Decision> {
  const req = parseAuthorizeRequest(body);
  const requestSha = sha256Hex(canonicalRequest(req));
  const spooled = standIn?.spooled(processorId, req.authorization_id);
  if (spooled) {
    if (spooled.request_sha256 !== requestSha) {
      throw new AppError('idempotency_mismatch', 'authorization_id was already used with a different request', {
        details: { authorization_id: req.authorization_id },
      });
    }
    return spooled.decision;
  }
  const budget = new AbortController();
  const seen: ObservedReads = { inflight: 0, pendingTwin: false };
  const scoped: EngineContext = { ...ctx, store: budgetedStore(ctx.store, budget.signal, seen) };
  const deadlineMs = ctx.config.authorizeDeadlineMs;
  const work = authorize(scoped, processorId, body, actor);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), deadlineMs - (standIn ? standInReserveMs(deadlineMs) : 0));
  });
  let outcome: Outcome;
  try {
    outcome = await Promise.race([
      work.then(
        (decision) => ({ decision }),
        (error: unknown) => ({ error }),
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
    budget.abort();
  }
  if (outcome !== 'expired') {
    if ('decision' in outcome) {
      standIn?.remember(processorId, req, seen);
      return outcome.decision;
    }
    if (!isAppError(outcome.error, 'storage_unavailable')) throw outcome.error;
  } else {
    // The cut-off attempt unwinds on its own (its store calls now fail); its outcome is no answer.
    work.catch((err: unknown) =>
      ctx.logger.warn('authorize_cut_off', { authorization_id: req.authorization_id, error: String(err) }),
    );
    if (seen.pendingTwin && !standIn?.decided(processorId, req.authorization_id)) {
      // The time went waiting for a twin request (here or on another server) still deciding this
      // authorization id: it answers, not a stand-in made beside it.
      throw new AppError('idempotency_in_progress', 'a request with this authorization_id is still being decided');
    }
  }
  if (!standIn) throw outcome === 'expired' ? deadlineError() : (outcome as { error: unknown }).error;
  return standIn.decide(processorId, req, requestSha, actor);
}
