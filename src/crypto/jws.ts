import { createPublicKey, sign, verify } from 'node:crypto';
import type { Jwks, SigningKey } from './signing-keys.js';

/**
 * Signs a JSON payload as a compact JWS with EdDSA (Ed25519) and the key's `kid` in the header.
 * Built directly on node:crypto: this runs on every authorization.
 */
export function createJwsSigner(key: SigningKey): (payload: object) => string {
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })).toString('base64url');
  return (payload) => {
    const signingInput = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = sign(null, Buffer.from(signingInput), key.privateKey).toString('base64url');
    const jws = `${signingInput}.${signature}`;
    lastJws = jws;
    lastHeader = header;
    lastSignature = signature;
    return jws;
  };
}

/** The compact JWS a signer of {@link createJwsSigner} made last, with its header and signature. */
let lastJws: string | null = null;
let lastHeader = '';
let lastSignature = '';

/** The header and signature (base64url) of a compact JWS. */
export interface JwsParts {
  header: string;
  signature: string;
}

/**
 * The header and signature of `jws` when it is the compact JWS a signer of {@link createJwsSigner} made
 * last (ask right after signing), as the signer wrote them: strings of their own, where slicing them out of
 * the JWS would read (and flatten) the whole of it. Null for any other string.
 */
export function lastJwsParts(jws: string): JwsParts | null {
  return jws === lastJws ? { header: lastHeader, signature: lastSignature } : null;
}

/** Why a JWS did not verify. */
export type JwsFailure = 'malformed' | 'unsupported_alg' | 'unknown_kid' | 'bad_signature';

/** Result of {@link verifyJws}. */
export type JwsVerification =
  | { ok: true; payload: Record<string, unknown>; kid: string }
  | { ok: false; reason: JwsFailure };

/**
 * Verifies a compact EdDSA JWS against a JWKS, as a processor or auditor would: the only accepted `alg`
 * is EdDSA and the key is chosen by `kid`.
 */
export function verifyJws(jws: string, jwks: Jwks): JwsVerification {
  const parts = jws.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [h, p, s] = parts as [string, string, string];
  // Node decodes base64url leniently; insist on the one canonical encoding so no byte can change silently.
  for (const part of parts)
    if (Buffer.from(part, 'base64url').toString('base64url') !== part) return { ok: false, reason: 'malformed' };
  let header: { alg?: unknown; kid?: unknown };
  let payload: unknown;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (header.alg !== 'EdDSA') return { ok: false, reason: 'unsupported_alg' };
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return { ok: false, reason: 'unknown_kid' };
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  const good = verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  if (!good || typeof payload !== 'object' || payload === null) return { ok: false, reason: 'bad_signature' };
  return { ok: true, payload: payload as Record<string, unknown>, kid: jwk.kid };
}
