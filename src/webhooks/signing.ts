import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header carrying a delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'Allowance-Signature';
/** Prefix of webhook signing secrets. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** A fresh signing secret: `whsec_` and 32 random bytes in base64url. */
export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * The `v1` signature: lower-case hex HMAC-SHA256 keyed with the secret (the whole `whsec_…` string as UTF-8)
 * over `<timestamp>.<body>`, the body exactly as sent.
 */
export function computeSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The value of {@link SIGNATURE_HEADER} for a body sent at `timestamp` (unix seconds). */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${computeSignature(secret, timestamp, body)}`;
}

/** Why {@link verifySignature} refused a delivery. */
export type SignatureFailure = 'malformed' | 'timestamp_out_of_tolerance' | 'mismatch';

/**
 * Checks a received delivery as a receiver should: parses the header (several `v1` values are accepted, for
 * secret rotation on the receiver's side), refuses a timestamp further than `toleranceSeconds` from `nowSeconds`
 * (replays), and compares in constant time. Returns null when it verifies.
 */
export function verifySignature(
  header: string | undefined | null,
  secret: string,
  body: string,
  options: { nowSeconds?: number; toleranceSeconds?: number } = {},
): SignatureFailure | null {
  if (!header) return 'malformed';
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return 'malformed';
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^[0-9]{1,12}$/.test(value)) return 'malformed';
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return 'malformed';
      signatures.push(value);
    }
  }
  if (timestamp === null || signatures.length === 0) return 'malformed';
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return 'timestamp_out_of_tolerance';
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  const ok = signatures.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  return ok ? null : 'mismatch';
}

/** The associated data an endpoint's secret is sealed with: binds the ciphertext to that endpoint. */
export function secretAssociatedData(endpointId: string): string {
  return `webhook:${endpointId}`;
}
