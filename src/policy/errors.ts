/**
 * Stable error codes raised by the policy layer. Part of the API: never rename one.
 * - `opa_not_found`: no opa binary in the project tools folder or on PATH.
 * - `opa_command_failed`: opa exited non-zero (details carry stderr).
 * - `policy_build_failed`: `opa build` rejected the sources (syntax, types, capabilities).
 * - `bundle_invalid`: the bundle archive is not a readable gzip'd tar or lacks policy.wasm / a valid manifest.
 * - `policy_load_failed`: the WASM module could not be instantiated or data could not be set.
 * - `policy_evaluation_failed`: the SDK or the module aborted during evaluation.
 * - `policy_no_result`: the entry point produced no decision (undefined), which is never an allow.
 * - `policy_output_invalid`: the decision does not match decision-output.schema.json.
 */
export type PolicyErrorCode =
  | 'opa_not_found'
  | 'opa_command_failed'
  | 'policy_build_failed'
  | 'bundle_invalid'
  | 'policy_load_failed'
  | 'policy_evaluation_failed'
  | 'policy_no_result'
  | 'policy_output_invalid';

/**
 * Error thrown by the policy layer. `code` is the stable identifier to branch on;
 * the message is for humans only. `status` is 500 and `expose` false: none of these
 * are the caller's fault, and a policy DENY is a decision, never one of these errors.
 */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  readonly status = 500;
  readonly expose = false;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: PolicyErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PolicyError';
    this.code = code;
    this.details = options.details;
  }
}

/** True when `err` is a PolicyError, optionally with the given code. */
export function isPolicyError(err: unknown, code?: PolicyErrorCode): err is PolicyError {
  return err instanceof PolicyError && (code === undefined || err.code === code);
}
