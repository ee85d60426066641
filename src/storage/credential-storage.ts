import type { AuditDraft } from '../audit/types.js';
import type { ListQuery, Page } from './adapter.js';

/** Who an API credential speaks for. */
export type CredentialRole = 'enterprise' | 'processor' | 'operator';

/**
 * An API credential. The secret itself is never stored in clear: `secret_sha256` checks a token exchange,
 * and `secret_ciphertext` (AES-256-GCM under the master key, bound to the key id) gives the raw secret back
 * to verify client-signed HS256 tokens, which need it.
 */
export interface ApiCredential {
  key_id: string;
  name: string | null;
  role: CredentialRole;
  /** The org id of an enterprise credential, the processor id of a processor credential, null for an operator. */
  owner_id: string | null;
  status: 'active' | 'revoked';
  /** Lower-case hex SHA-256 of the secret. */
  secret_sha256: string;
  /** `v1.<iv>.<ciphertext>.<tag>`, base64url parts. */
  secret_ciphertext: string;
  /** Last four characters of the secret, for masked listings. */
  secret_last4: string;
  created_at: string;
  revoked_at: string | null;
  /** Updated at most once a minute per credential, so it is approximate by design. */
  last_used_at: string | null;
  /**
   * Whether the credential may also authenticate by sending its key id and secret on every request
   * (`x-api-key`); off unless chosen at creation. Absent on credentials stored before the option existed.
   */
  api_key_auth?: boolean;
  /**
   * Set by a rotation: the secret it replaced (its SHA-256 and ciphertext), accepted until
   * `previous_secret_expires_at`, a time on the store's clock (see {@link CredentialStorage.readCredential}).
   */
  previous_secret_sha256?: string | null;
  previous_secret_ciphertext?: string | null;
  previous_secret_expires_at?: string | null;
  /** When the secret was last rotated, on the store's clock; null or absent when never. */
  rotated_at?: string | null;
  version: number;
}

/** A credential as read, with the store's own clock at the read. */
export interface TimedCredential {
  credential: ApiCredential;
  /**
   * The store's clock when it answered (ms since the epoch): a rotation's grace period is judged against it,
   * so every server agrees on when it ends whatever its own clock says.
   */
  storeTimeMs: number;
}

/**
 * A revoked agent token (`jti` set) or every token of an agent issued up to `revoked_at` (`jti` null), of
 * the org `org_id`: a token is covered only when its own `org_id` claim is this org. Kept until `exp`: after
 * that no token it covers can verify anyway.
 */
export interface TokenRevocation {
  jti: string | null;
  agent_id: string;
  org_id: string;
  /** RFC 3339: when the entry may be forgotten. */
  exp: string;
  revoked_at: string;
  /**
   * Set by the store when it records the revocation (ignored on input): 1, 2, 3, … in the order the store
   * numbered them, shared by every server on the backend. Servers pull revocations by this number, never by
   * comparing clocks. A number may be skipped (a write that failed after taking it, an entry already
   * dropped), and with concurrent writers an entry can become visible shortly after a higher one.
   */
  seq?: number;
}

/** An agent token as issued (its claims that tie it to an org), so a revocation by jti can check the issuer. */
export interface IssuedToken {
  jti: string;
  org_id: string;
  agent_id: string;
  /** RFC 3339: the token's expiry; the record may be forgotten after it. */
  exp: string;
  issued_at: string;
}

/**
 * Storage of API credentials and agent-token revocations, kept apart from the engine's StorageAdapter
 * because only the HTTP server needs it. Audit drafts passed to a write are stored atomically with it in the
 * outbox of the StorageAdapter on the same backend (its `listAuditOutbox` returns them). Same rules as StorageAdapter: async, `null` on a miss, throws only
 * StorageError (`conflict` for a taken key id or a stale version), returns copies or frozen objects.
 *
 * Indexes: credentials unique by key_id and by (owner_id, key_id order) for lists; revocations unique by seq
 * (and a TTL on exp where the backend has one); issued tokens by (org_id, jti). Implementations live in adapters/memory and adapters/mongodb,
 * and the conformance suite checks them (its `credentials` group).
 */
export interface CredentialStorage {
  /** Creates indexes; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** `conflict` when the key id exists. */
  insertCredential(credential: ApiCredential, events?: readonly AuditDraft[]): Promise<void>;
  getCredential(keyId: string): Promise<ApiCredential | null>;
  /**
   * Like `getCredential`, with the store's own clock read in the same round trip (MongoDB: `$$NOW` of the
   * server; the embedded stores: their clock). Times written from it are compared only with it.
   */
  readCredential(keyId: string): Promise<TimedCredential | null>;
  /** An owner's credentials, newest first (key ids sort by creation); filter: status. */
  listCredentials(ownerId: string, query: ListQuery): Promise<Page<ApiCredential>>;
  /** Compare-and-set on `version`: the new object, `null` on a miss, `conflict` when the version moved. */
  updateCredential(
    keyId: string,
    expectVersion: number,
    patch: Partial<ApiCredential>,
    events?: readonly AuditDraft[],
  ): Promise<ApiCredential | null>;
  /**
   * Records an issued agent token (with the `token.issued` drafts, atomically). Identity: (org_id, jti);
   * recording the same one again is harmless and stores no drafts.
   */
  insertIssuedToken(token: IssuedToken, events?: readonly AuditDraft[]): Promise<void>;
  /** The token `jti` issued by `orgId`, or null (unknown, issued by another org, or forgotten after its exp). */
  getIssuedToken(orgId: string, jti: string): Promise<IssuedToken | null>;
  /**
   * Records a revocation and gives it the next `seq`. Identity: (org_id, jti) for one token, (org_id,
   * agent_id, revoked_at) for an agent-wide one; recording the same one again is harmless and stores no drafts.
   */
  insertRevokedToken(revocation: TokenRevocation, events?: readonly AuditDraft[]): Promise<void>;
  /**
   * Revocations with `seq > afterSeq`, ascending by seq, each with its `seq`. Entries past their `exp` may be
   * left out (or still be listed until the backend drops them).
   */
  listRevokedTokens(afterSeq: number): Promise<TokenRevocation[]>;
}
