import { authorizeRequestSchema, compileValidator, simulateAuthorizationSchema } from '../schemas/index.js';
import type { Merchant } from '../types.js';

/** An authorization request after validation, with defaults filled in: the form that is hashed. */
export interface NormalizedAuthorizeRequest {
  /** The human approval this payment uses; absent when it names none (and then not hashed). */
  approval_id?: string;
  authorization_id: string;
  credential_reference: string | null;
  binding_id: string | null;
  amount: number;
  currency: string;
  merchant: Merchant;
  channel: 'online' | 'in_store' | 'recurring';
  intent_id: string | null;
  partial_approval_supported: boolean;
}

interface RawAuthorize {
  authorization_id: string;
  credential_reference?: string;
  binding_id?: string;
  amount: number;
  currency: string;
  merchant: Merchant;
  channel: 'online' | 'in_store' | 'recurring';
  intent_id?: string;
  approval_id?: string;
  partial_approval_supported: boolean;
  processor_id?: string;
}

const validateAuthorize = compileValidator<RawAuthorize>(authorizeRequestSchema);
const validateSimulate = compileValidator<RawAuthorize & { processor_id: string }>(simulateAuthorizationSchema);

// Keys are created in sorted order, so JSON.stringify of the result is its RFC 8785 canonical form.
function normalize(raw: RawAuthorize): NormalizedAuthorizeRequest {
  const m = raw.merchant;
  const merchant: Merchant = {};
  if (m.country !== undefined) merchant.country = m.country;
  if (m.id !== undefined) merchant.id = m.id;
  if (m.mcc !== undefined) merchant.mcc = m.mcc;
  if (m.name !== undefined) merchant.name = m.name;
  // approval_id only when named, so the hash of every request that names none is what it always was.
  return {
    amount: raw.amount,
    ...(raw.approval_id !== undefined ? { approval_id: raw.approval_id } : {}),
    authorization_id: raw.authorization_id,
    binding_id: raw.binding_id ?? null,
    channel: raw.channel,
    credential_reference: raw.credential_reference ?? null,
    currency: raw.currency,
    intent_id: raw.intent_id ?? null,
    merchant,
    partial_approval_supported: raw.partial_approval_supported,
  };
}

/** The canonical JSON (RFC 8785) of a normalized request: what its SHA-256 is taken over. */
export function canonicalRequest(req: NormalizedAuthorizeRequest): string {
  return JSON.stringify(req);
}

/**
 * Validates a processor's authorization body (throws `validation_failed`) and returns its normalized
 * form. The body is not modified.
 */
export function parseAuthorizeRequest(body: unknown): NormalizedAuthorizeRequest {
  const copy = body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as object) } : body;
  return normalize(validateAuthorize(copy));
}

/** Validates a simulation body: an authorization request plus the processor it is simulated for. */
export function parseSimulateAuthorization(body: unknown): {
  processorId: string;
  request: NormalizedAuthorizeRequest;
} {
  const copy = body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as object) } : body;
  const raw = validateSimulate(copy);
  return { processorId: raw.processor_id, request: normalize(raw) };
}
