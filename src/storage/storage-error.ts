import { AppError, type ErrorCode } from '../errors/index.js';

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

/** How {@link toAppError} words what is not a storage conflict or outage. */
export interface ToAppErrorOptions {
  /** The code of an error that is neither an AppError nor a StorageError. Default `storage_internal`. */
  otherwise?: Extract<ErrorCode, 'storage_internal' | 'internal_error'>;
  /** The message of a `conflict`. Default the StorageError's own message. */
  conflictMessage?: string;
}

/**
 * Maps whatever a store call throws to the engine's error codes: an AppError as is, a StorageError
 * `conflict` to `conflict`, `unavailable` to `storage_unavailable`, `internal` to `storage_internal`.
 */
export function toAppError(err: unknown, options: ToAppErrorOptions = {}): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof StorageError) {
    if (err.code === 'conflict')
      return new AppError('conflict', options.conflictMessage ?? err.message, { cause: err });
    if (err.code === 'unavailable') return new AppError('storage_unavailable', 'storage unavailable', { cause: err });
    return new AppError('storage_internal', 'storage failure', { cause: err });
  }
  if (options.otherwise === 'internal_error') return new AppError('internal_error', 'internal error', { cause: err });
  return new AppError('storage_internal', 'storage failure', { cause: err });
}
