/**
 * Codes a storage adapter may throw. `conflict`: a unique key is taken or an expected version no longer
 * matches. `unavailable`: the backend cannot be reached or timed out (retryable). `internal`: anything else.
 */
export type StorageErrorCode = 'conflict' | 'unavailable' | 'internal';

/** The only error a {@link StorageAdapter} method may throw. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `err` is a {@link StorageError}, optionally with the given code. */
export function isStorageError(err: unknown, code?: StorageErrorCode): err is StorageError {
  return err instanceof StorageError && (code === undefined || err.code === code);
}
