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
  for (const m of METHODS) {
    const fn = (store[m] as (...args: unknown[]) => Promise<unknown>).bind(store);
    guarded[m] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toAppError(err);
      }
    };
  }
  return guarded as unknown as StorageAdapter;
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
  for (const m of ANALYSIS_METHODS) {
    const fn = (storage[m] as (...args: unknown[]) => Promise<unknown>).bind(storage);
    guarded[m] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toAppError(err);
      }
    };
  }
  return guarded as unknown as PolicyAnalysisStorage;
}
