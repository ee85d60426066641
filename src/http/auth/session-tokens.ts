import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { deriveKey } from '../../crypto/index.js';
import type { CredentialRole } from '../../storage/index.js';

/** `kid` in the header of server-issued session tokens; a client token carrying it is checked with the server key and fails. */
export const SESSION_KID = 'allowance-session-1';
/** `typ` claim of a session token. */
export const SESSION_TYP = 'session';
/** Lifetime of a session token, in seconds. */
export const SESSION_TTL_SECONDS = 900;

/** Claims of a session token: the credential is in `sub`, never in `key_id`, so it cannot pass as a client token. */
export interface SessionClaims {
  typ: typeof SESSION_TYP;
  iss: 'allowance';
  sub: string;
  role: CredentialRole;
  iat: number;
  exp: number;
  /**
   * The first 16 hex digits of the SHA-256 of the secret exchanged: once a rotation's grace period is over, a
   * session exchanged with the replaced secret is refused too. Absent on tokens issued before it existed.
   */
  sec?: string;
}

/** The `sec` claim of a session exchanged with the secret whose SHA-256 is `sha`. */
export function secretTag(sha: Buffer): string {
  return sha.subarray(0, 8).toString('hex');
}

/** Issues server-signed HS256 session tokens under a key derived from the master key (shared by every server). */
export class SessionTokens {
  readonly key: KeyObject;

  constructor(masterKey: Buffer) {
    this.key = createSecretKey(deriveKey(masterKey, 'allowance session tokens v1'));
  }

  issue(
    keyId: string,
    role: CredentialRole,
    nowMs: number,
    /** SHA-256 of the secret that was exchanged (see {@link SessionClaims.sec}). */
    secretSha?: Buffer,
  ): { access_token: string; token_type: 'Bearer'; expires_in: number } {
    const iat = Math.floor(nowMs / 1000);
    const claims: SessionClaims = {
      typ: SESSION_TYP,
      iss: 'allowance',
      sub: keyId,
      role,
      iat,
      exp: iat + SESSION_TTL_SECONDS,
      ...(secretSha ? { sec: secretTag(secretSha) } : {}),
    };
    const token = jwt.sign(claims, this.key, { algorithm: 'HS256', keyid: SESSION_KID });
    return { access_token: token, token_type: 'Bearer', expires_in: SESSION_TTL_SECONDS };
  }
}
