import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { BundleRejection } from './bundle-rejection.js';

/** Asymmetric algorithms OPA signs bundles with; a shared-secret (HS*) signature is never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Checks a PEM public key (SPKI) an org registers for bundle signatures; returns it parsed. */
export function parseSigningKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.type !== 'public') throw new Error('not a public key');
  return key;
}

/** JSON with object keys sorted and no whitespace, numbers and strings as JSON.stringify writes them. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The hash OPA signs for a bundle file: SHA-256 of the raw bytes, or for a JSON file (`.json`,
 * `.manifest`) of its canonical form (keys sorted, no whitespace), so a reformatted data file still verifies.
 */
function fileHash(name: string, bytes: Uint8Array): string {
  const hash = createHash('sha256');
  if (name.endsWith('.json') || name === '.manifest' || name.endsWith('/.manifest')) {
    hash.update(sortedJson(JSON.parse(new TextDecoder().decode(bytes))));
  } else {
    hash.update(bytes);
  }
  return hash.digest('hex');
}

function invalid(detail: string): BundleRejection {
  return new BundleRejection('signature_invalid', detail);
}

/**
 * Verifies an OPA bundle signature (`.signatures.json`, as `opa build --signing-key` writes it): one JWS
 * signed by `pem`, whose `files` list names every other file of the bundle with its SHA-256. Throws
 * `signature_required` when there is no signature and `signature_invalid` when it does not verify.
 */
export async function verifyBundleSignature(files: ReadonlyMap<string, Uint8Array>, pem: string): Promise<void> {
  const raw = files.get('.signatures.json');
  if (raw === undefined) {
    throw new BundleRejection('signature_required', 'this org accepts signed bundles only (.signatures.json)');
  }
  let tokens: unknown;
  try {
    tokens = (JSON.parse(new TextDecoder().decode(raw)) as { signatures?: unknown }).signatures;
  } catch {
    throw invalid('.signatures.json is not valid JSON');
  }
  if (!Array.isArray(tokens) || tokens.length !== 1 || typeof tokens[0] !== 'string') {
    throw invalid('.signatures.json must hold exactly one signature');
  }
  let payload: { files?: unknown };
  try {
    const verified = await compactVerify(tokens[0], parseSigningKey(pem), { algorithms: ALGORITHMS });
    payload = JSON.parse(new TextDecoder().decode(verified.payload)) as { files?: unknown };
  } catch (err) {
    throw invalid(`the signature does not verify with the org's key: ${(err as Error).message}`);
  }
  if (!Array.isArray(payload.files)) throw invalid('the signature lists no files');
  const signed = new Map<string, string>();
  for (const f of payload.files as { name?: unknown; hash?: unknown; algorithm?: unknown }[]) {
    if (typeof f?.name !== 'string' || typeof f.hash !== 'string' || f.algorithm !== 'SHA-256') {
      throw invalid('a signed file entry is malformed or not SHA-256');
    }
    signed.set(f.name.replace(/^\/+/, ''), f.hash);
  }
  for (const [name, bytes] of files) {
    if (name === '.signatures.json') continue;
    const want = signed.get(name);
    if (want === undefined) throw invalid(`${name} is not covered by the signature`);
    let got: string;
    try {
      got = fileHash(name, bytes);
    } catch {
      throw invalid(`${name} is not valid JSON`);
    }
    if (got !== want) throw invalid(`${name} does not match its signed hash`);
    signed.delete(name);
  }
  if (signed.size > 0) throw invalid(`signed file(s) missing from the bundle: ${[...signed.keys()].join(', ')}`);
}
