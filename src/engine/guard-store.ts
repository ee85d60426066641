import {
  type PolicyAnalysisStorage,
  STORAGE_ADAPTER_METHODS,
  type StorageAdapter,
  toAppError,
} from '../storage/index.js';

const METHODS = STORAGE_ADAPTER_METHODS;

/**
 * Checks that `store` implements every method of the contract (a missing one is reported at start,
 * not on the first payment) and returns a view whose methods throw only AppError.
 */
export function guardStore(store: StorageAdapter): StorageAdapter {
  if (!store || typeof store !== 'object') throw new TypeError('createEngine: `store` must be a StorageAdapter');
  const missing = METHODS.filter((m) => typeof (store as unknown as Record<string, unknown>)[m] !== 'function');
  if (missing.length) throw new TypeError(`createEngine: the storage adapter lacks ${missing.join(', ')}`);
  const guarded = {} as Record<string, unknown>;
  for (const m of METHODS) guarded[m] = guardCall((store[m] as (...args: unknown[]) => unknown).bind(store));
  guardedStores.set(guarded, store);
  return guarded as unknown as StorageAdapter;
}

/** The store behind each view {@link guardStore} made. */
const guardedStores = new WeakMap<object, StorageAdapter>();

/**
 * The store a view of {@link guardStore} guards, for a caller that wraps the view's calls again and applies
 * the same guard itself (a synchronous throw rejected with its AppError, a rejection turned into one by
 * {@link rethrow}) in the same step as its own: one promise per call, not two.
 */
export function storeBehind(guarded: StorageAdapter): StorageAdapter | undefined {
  return guardedStores.get(guarded);
}

/** Rejects with the AppError of a store's failure (see {@link guardStore}). */
export const rethrow = (err: unknown): never => {
  throw toAppError(err);
};

/**
 * `fn` as a store call that always returns a promise and rejects only with an AppError (a synchronous
 * throw included). On the way of every store call of every authorization: one step (`catch`) on the
 * adapter's own promise, rather than an async function awaiting it.
 */
function guardCall(fn: (...args: unknown[]) => unknown): (...args: unknown[]) => Promise<unknown> {
  return (...args) => {
    let result: unknown;
    try {
      result = fn(...args);
    } catch (err) {
      return Promise.reject(toAppError(err));
    }
    return (result instanceof Promise ? result : Promise.resolve(result)).catch(rethrow);
  };
}

const ANALYSIS_METHODS = [
  'init',
  'close',
  'recordShadow',
  'getShadowStats',
  'insertReplayJob',
  'getReplayJob',
  'updateReplayJob',
  'scanAuthorizations',
  'countAuthorizations',
] as const satisfies readonly (keyof PolicyAnalysisStorage)[];

/** {@link guardStore} for the policy analysis storage: every method checked at start, only AppError thrown. */
export function guardAnalysisStorage(storage: PolicyAnalysisStorage): PolicyAnalysisStorage {
  const missing = ANALYSIS_METHODS.filter(
    (m) => typeof (storage as unknown as Record<string, unknown>)[m] !== 'function',
  );
  if (missing.length) throw new TypeError(`createEngine: the policy analysis storage lacks ${missing.join(', ')}`);
  const guarded = {} as Record<string, unknown>;
  for (const m of ANALYSIS_METHODS)
    guarded[m] = guardCall((storage[m] as (...args: unknown[]) => unknown).bind(storage));
  return guarded as unknown as PolicyAnalysisStorage;
}
