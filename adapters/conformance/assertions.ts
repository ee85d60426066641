import * as assert from 'node:assert/strict';
import { StorageError, type StorageErrorCode } from '../../src/storage/index.js';

const KNOWN_CODES: readonly StorageErrorCode[] = ['conflict', 'unavailable', 'internal'];

/** True when `err` is a StorageError carrying one of the contract's codes. */
export function isKnownStorageError(err: unknown): err is StorageError {
  return err instanceof StorageError && KNOWN_CODES.includes(err.code);
}

/** Awaits `promise` and asserts it rejects with a StorageError of `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: StorageErrorCode, what = ''): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StorageError, `${what}: expected a StorageError, got ${String(err)}`);
    assert.strictEqual((err as StorageError).code, code, `${what}: expected code ${code}`);
    return;
  }
  assert.fail(`${what}: expected a rejection with code ${code}`);
}

/**
 * Tries to change a returned object in place (top level and one nested object). A frozen object throws
 * in strict mode, which is as good as a copy; the caller then checks the store did not change.
 */
export function tryMutate(value: object): void {
  const target = value as Record<string, unknown>;
  try {
    target.status = 'tampered';
    target.version = 999;
    for (const v of Object.values(target)) {
      if (v && typeof v === 'object') {
        (v as Record<string, unknown>).tampered = true;
        break;
      }
    }
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

/** Runs `count` calls of `fn` at once and returns their results in order. */
export function inParallel<T>(count: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => fn(i)));
}

/** How many of `values` equal `wanted`. */
export function countOf<T>(values: readonly T[], wanted: T): number {
  return values.filter((v) => v === wanted).length;
}
