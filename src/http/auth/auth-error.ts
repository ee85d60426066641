import { AppError } from '../../errors/index.js';

/** Why a request was not authenticated; returned as `error.reason` with a 401. */
export type AuthFailureReason =
  | 'missing_header'
  | 'invalid_token'
  | 'token_expired'
  | 'token_revoked'
  | 'unknown_key'
  | 'missing_claim'
  | 'lifetime_too_long'
  | 'invalid_credentials'
  | 'api_key_not_enabled';

const MESSAGES: Record<AuthFailureReason, string> = {
  missing_header: 'send Authorization: Bearer <token> (or x-api-key: <key_id>.<secret>)',
  invalid_token: 'the token is malformed, has a bad signature or an unsupported algorithm',
  token_expired: 'the token has expired',
  token_revoked: 'the credential of this token was revoked',
  unknown_key: 'the key_id of the token is unknown',
  missing_claim: 'the token lacks key_id, iat or exp',
  lifetime_too_long: 'exp - iat must be at most 3600 seconds',
  invalid_credentials: 'unknown key id or wrong secret',
  api_key_not_enabled: 'this credential was not created with api_key_auth: sign a token with its secret instead',
};

/** A 401 `unauthorized` with a stable `reason`. */
export class AuthError extends AppError {
  readonly reason: AuthFailureReason;
  constructor(reason: AuthFailureReason) {
    super('unauthorized', MESSAGES[reason]);
    this.reason = reason;
  }
}
