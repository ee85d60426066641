import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import {
  compileValidator,
  stripeIssuingAuthorizationSchema,
  stripeIssuingEventSchema,
  stripeIssuingTransactionSchema,
} from '../schemas/index.js';
import type { Decision } from '../types.js';

/** How far a `Stripe-Signature` timestamp may be from the injected clock, in seconds (Stripe's own default). */
export const STRIPE_SIGNATURE_TOLERANCE_S = 300;

/** The `Stripe-Version` header of answers when the event names no API version. */
export const STRIPE_DEFAULT_API_VERSION = Stripe.API_VERSION;

/** Stripe's metadata limits: 50 keys, keys of at most 40 characters, values of at most 500. */
const METADATA_VALUE_MAX = 500;

export interface StripeEvent {
  id: string;
  type: string;
  api_version?: string | null;
  data: { object: Record<string, unknown> };
}

export interface StripeAuthorization {
  id: string;
  approved?: boolean;
  status?: string;
  amount?: number;
  authorization_method?: string | null;
  card: { id: string };
  pending_request?: { amount: number; currency: string; is_amount_controllable?: boolean } | null;
  merchant_data?: {
    category_code?: string | null;
    name?: string | null;
    country?: string | null;
    network_id?: string | null;
  };
}

export interface StripeTransaction {
  id: string;
  type: string;
  amount: number;
  authorization?: string | null;
}

export const parseStripeEvent = compileValidator<StripeEvent>(stripeIssuingEventSchema);
export const parseStripeAuthorization = compileValidator<StripeAuthorization>(stripeIssuingAuthorizationSchema);
export const parseStripeTransaction = compileValidator<StripeTransaction>(stripeIssuingTransactionSchema);

/**
 * The `t=` value of a `Stripe-Signature` header in seconds, read the way the official package reads it (the
 * last `t` item wins), or null when there is none or it is not a number.
 */
export function stripeSignatureTimestamp(header: string): number | null {
  let timestamp: number | null = null;
  for (const item of header.split(',')) {
    const [key, value] = item.split('=');
    if (key === 't') timestamp = value !== undefined && /^[0-9]{1,15}$/.test(value) ? Number(value) : null;
  }
  return timestamp;
}

/**
 * True when `header` (the `Stripe-Signature` value) signs `payload` with one of `secrets` and its timestamp is
 * within the tolerance of `nowMs` (the injected clock, in ms), in the past and in the future. The signature
 * and the age are checked by the official package's webhook helper (given `nowMs` as its `receivedAt`),
 * which accepts any of the several `v1` values Stripe sends while it rolls its own secret; each of our
 * secrets (current and in grace) is tried in turn. The helper only bounds the age, so a timestamp more than
 * the tolerance ahead of `nowMs` is refused here first: a signature made for a later time is not replayable
 * for longer than the tolerance.
 */
export function verifyStripeSignature(
  payload: Buffer,
  header: string | undefined,
  secrets: readonly string[],
  nowMs: number,
): boolean {
  if (!header || header.length > 4096) return false;
  const timestamp = stripeSignatureTimestamp(header);
  if (timestamp === null || timestamp * 1000 - nowMs > STRIPE_SIGNATURE_TOLERANCE_S * 1000) return false;
  const signature = Stripe.webhooks.signature;
  if (!signature) return false;
  for (const secret of secrets) {
    try {
      if (signature.verifyHeader(payload, header, secret, STRIPE_SIGNATURE_TOLERANCE_S, undefined, nowMs)) {
        return true;
      }
    } catch {
      // A mismatch, a stale timestamp or a malformed header: try the next secret.
    }
  }
  return false;
}

const MCC = /^[0-9]{4}$/;
const COUNTRY = /^[A-Z]{2}$/;
const IN_STORE_METHODS = new Set(['chip', 'contactless', 'swipe', 'keyed_in']);

/** The authorize request of an `issuing_authorization.request`: the Stripe authorization id is the idempotency key. */
export function stripeAuthorizeBody(auth: StripeAuthorization): Record<string, unknown> {
  const pending = auth.pending_request;
  const amount = pending ? pending.amount : (auth.amount ?? 0);
  const merchant: Record<string, string> = {};
  const data = auth.merchant_data ?? {};
  if (data.network_id) merchant.id = data.network_id.slice(0, 128);
  if (data.name) merchant.name = data.name.slice(0, 200);
  if (data.category_code && MCC.test(data.category_code)) merchant.mcc = data.category_code;
  const country = data.country?.toUpperCase();
  if (country && COUNTRY.test(country)) merchant.country = country;
  return {
    authorization_id: auth.id,
    credential_reference: auth.card.id,
    amount,
    currency: (pending?.currency ?? 'xxx').toUpperCase(),
    merchant,
    channel: auth.authorization_method && IN_STORE_METHODS.has(auth.authorization_method) ? 'in_store' : 'online',
    partial_approval_supported: pending?.is_amount_controllable === true,
  };
}

/** Stripe's answer body: `approved`, `amount` for a partial approval, the decision in `metadata`. */
export interface StripeAnswer {
  approved: boolean;
  amount?: number;
  metadata: Record<string, string>;
}

function clip(value: string): string {
  return value.length <= METADATA_VALUE_MAX ? value : value.slice(0, METADATA_VALUE_MAX);
}

/** The reference of a decision's proof kept in metadata: the SHA-256 of the JWS (the JWS itself is too long). */
export function proofReference(proof: string): string {
  return createHash('sha256').update(proof).digest('hex');
}

/**
 * Maps a decision to Stripe's answer: ALLOW approves; ALLOW_WITH_LIMITS approves the approved amount when
 * Stripe says the amount is controllable and declines otherwise; DENY and STEP_UP decline. `metadata` carries
 * the decision id, action, reason codes and proof reference within Stripe's limits.
 */
export function stripeAnswer(decision: Decision, amountControllable: boolean): StripeAnswer {
  const metadata: Record<string, string> = {
    allowance_decision_id: decision.decision_id,
    allowance_action: decision.action,
    allowance_reasons: clip(decision.reason_codes.join(',')),
    allowance_proof_sha256: proofReference(decision.proof),
  };
  if (decision.stand_in) metadata.allowance_stand_in = 'true';
  if (decision.action === 'ALLOW' && decision.allowed) return { approved: true, metadata };
  if (decision.action === 'ALLOW_WITH_LIMITS' && decision.allowed) {
    if (decision.approved_amount === decision.amount) return { approved: true, metadata };
    if (amountControllable) return { approved: true, amount: decision.approved_amount, metadata };
    metadata.allowance_reasons = clip([...decision.reason_codes, 'partial_amount_not_controllable'].join(','));
  }
  return { approved: false, metadata };
}

/** The answer when the card is bound in another org: nothing about that org is told. */
export function stripeForeignCardAnswer(): StripeAnswer {
  return { approved: false, metadata: { allowance_action: 'DENY', allowance_reasons: 'binding_not_found' } };
}
