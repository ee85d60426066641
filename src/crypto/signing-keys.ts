import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A public key as published in the JWKS. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

/** An Ed25519 key pair used to sign decisions and mandates. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: PublicJwk;
}

/** A set of JSON Web Keys. */
export interface Jwks {
  keys: PublicJwk[];
}

function toSigningKey(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('signing key must be Ed25519');
  const publicKey = createPublicKey(privateKey);
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  // RFC 7638 thumbprint: the kid changes exactly when the key does.
  const kid = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
  return { kid, privateKey, publicKey, jwk: { kty: 'OKP', crv: 'Ed25519', x, kid, use: 'sig', alg: 'EdDSA' } };
}

/** A fresh Ed25519 signing key. */
export function generateSigningKey(): SigningKey {
  return toSigningKey(generateKeyPairSync('ed25519').privateKey);
}

/** A signing key from a PKCS#8 PEM private key. */
export function signingKeyFromPem(pem: string): SigningKey {
  return toSigningKey(createPrivateKey(pem));
}

/** PKCS#8 PEM of a signing key's private half, to persist it. */
export function signingKeyToPem(key: SigningKey): string {
  return key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The JWKS publishing the public halves of `keys`. */
export function toJwks(keys: SigningKey[]): Jwks {
  return { keys: keys.map((k) => ({ ...k.jwk })) };
}
