import { ERROR_CODES, type ErrorCode } from './error-codes.js';

/** Options accepted by {@link AppError}. */
export interface AppErrorOptions {
  /** Machine-readable detail, safe to show to the caller when the error is exposed. */
  details?: unknown;
  /** The underlying error, kept for logs and never exposed. */
  cause?: unknown;
}

/**
 * The one error type the engine throws. `status` is the HTTP status of `code`;
 * `expose` is true below 500 and for 503, where the message is meant for the caller.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_CODES[code];
    // A 503 says what is unavailable (the store, the policy) and nothing of the cause: worth showing.
    this.expose = this.status < 500 || this.status === 503;
    this.details = options.details;
  }
}

/** True when `err` is an {@link AppError}, optionally with the given code. */
export function isAppError(err: unknown, code?: ErrorCode): err is AppError {
  return err instanceof AppError && (code === undefined || err.code === code);
}
