import { createHmac, timingSafeEqual } from 'node:crypto';
import countries from 'i18n-iso-countries';
import { compileValidator, lithicAsaRequestSchema, lithicTransactionEventSchema } from '../schemas/index.js';
import type { Decision } from '../types.js';
import { proofReference } from './stripe-issuing.js';

/** How far a `webhook-timestamp` may be from the injected clock, in seconds (the helper's own tolerance). */
export const LITHIC_SIGNATURE_TOLERANCE_S = 300;

/** The fields of an Auth Stream Access request the bridge reads (Lithic's card authorization; others ignored). */
export interface LithicAsaRequest {
  token: string;
  amount?: number;
  authorization_amount?: number;
  merchant_currency?: string;
  cardholder_currency?: string;
  amounts?: { cardholder?: { amount: number; currency: string } };
  card: { token: string };
  merchant?: {
    acceptor_id?: string | null;
    descriptor?: string | null;
    mcc?: string | null;
    country?: string | null;
  };
  status?: string;
  pos?: { terminal?: { partial_approval_capable?: boolean; on_premise?: boolean } };
}

export const parseLithicAsaRequest = compileValidator<LithicAsaRequest>(lithicAsaRequestSchema);

/** One entry of a Lithic transaction's `events`: a clearing (capture), a return (refund), and others. */
export interface LithicTransactionStep {
  token: string;
  type: string;
  result?: string;
  amount?: number;
  amounts?: { cardholder?: { amount?: number } };
}

/** The fields of a Lithic transaction event the bridge reads. */
export interface LithicTransactionEvent {
  event_type: string;
  token: string;
  status?: string;
  settled_amount?: number;
  events?: LithicTransactionStep[];
}

/** A settlement the bridge applies: a capture or a refund, keyed by the processor's id of it. */
export interface BridgeSettlement {
  type: 'capture' | 'refund';
  id: string;
  amount: number;
}

/**
 * The settlements of a Lithic transaction: each approved `CLEARING` event is a capture and each approved
 * `RETURN` event a refund, keyed by the event's token (a transaction update repeats every event so far, so
 * each is applied once by its token), for the cardholder amount. A `SETTLED` transaction that lists no
 * clearing (older payloads) is one capture of `settled_amount`, keyed `<token>:settled`.
 */
export function lithicSettlements(event: LithicTransactionEvent): BridgeSettlement[] {
  const out: BridgeSettlement[] = [];
  for (const step of event.events ?? []) {
    if (step.result !== undefined && step.result !== 'APPROVED') continue;
    const amount = Math.abs(step.amounts?.cardholder?.amount ?? step.amount ?? 0);
    if (amount === 0) continue;
    if (step.type === 'CLEARING') out.push({ type: 'capture', id: step.token, amount });
    else if (step.type === 'RETURN') out.push({ type: 'refund', id: step.token, amount });
  }
  if (event.status === 'SETTLED' && !out.some((x) => x.type === 'capture')) {
    const amount = Math.abs(event.settled_amount ?? 0);
    if (amount > 0) out.unshift({ type: 'capture', id: `${event.token}:settled`, amount });
  }
  return out;
}

export const parseLithicTransactionEvent = compileValidator<LithicTransactionEvent>(lithicTransactionEventSchema);

/** The headers Lithic signs an ASA request and an event with (Standard Webhooks). */
export interface LithicSignatureHeaders {
  'webhook-id'?: string;
  'webhook-timestamp'?: string;
  'webhook-signature'?: string;
}

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of a Lithic secret as Standard Webhooks reads it: base64 after an optional `whsec_` prefix;
 * null when it is not that (registration validates the format, so only a corrupt record gets here).
 */
export function lithicSigningKey(secret: string): Buffer | null {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64.test(encoded)) return null;
  const key = Buffer.from(encoded, 'base64');
  return key.length > 0 ? key : null;
}

/**
 * True when the headers sign `payload` with one of `secrets` under Lithic's scheme for ASA requests and
 * events (Standard Webhooks): `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>` over
 * `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed by the base64-decoded secret; one matching `v1` value
 * is enough (Lithic sends several while it rotates). Each value is compared in constant time. The timestamp
 * must be within {@link LITHIC_SIGNATURE_TOLERANCE_S} of `nowMs`, the injected clock, in either direction:
 * the official package's helper judges it by the wall clock, so the bridge checks it here instead and
 * computes the HMAC with `node:crypto` (tests check the official helper accepts and refuses the same calls).
 */
export function verifyLithicSignature(
  payload: Buffer,
  headers: LithicSignatureHeaders,
  secrets: readonly string[],
  nowMs: number,
): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (!id || !timestamp || !signature) return false;
  if (id.length > 256 || timestamp.length > 20 || signature.length > 4096) return false;
  if (!/^[0-9]{1,15}$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > LITHIC_SIGNATURE_TOLERANCE_S) return false;
  const offered: Buffer[] = [];
  for (const item of signature.split(' ')) {
    const comma = item.indexOf(',');
    if (comma < 0 || item.slice(0, comma) !== 'v1') continue;
    offered.push(Buffer.from(item.slice(comma + 1), 'utf8'));
  }
  if (offered.length === 0) return false;
  const prefix = Buffer.from(`${id}.${Number(timestamp)}.`, 'utf8');
  for (const secret of secrets) {
    const key = lithicSigningKey(secret);
    if (!key) continue;
    const expected = Buffer.from(createHmac('sha256', key).update(prefix).update(payload).digest('base64'), 'utf8');
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return true;
    }
  }
  return false;
}

const MCC = /^[0-9]{4}$/;
const ALPHA3 = /^[A-Z]{3}$/;
const ALPHA2 = /^[A-Z]{2}$/;

/**
 * The ISO 3166-1 alpha-2 code the policy reads (`merchant.country`) of the country Lithic sends: Lithic
 * sends alpha-3 (`USA`), mapped by the `i18n-iso-countries` table; an alpha-2 code is taken as it is when the
 * table knows it. Anything else (a code the table does not know, such as the user-assigned `XKX`, a
 * malformed value, none) is null: the merchant then states no country, so an authority with
 * `allow_countries` declines it (`country_not_allowed`) rather than guessing.
 */
export function lithicMerchantCountry(code: string | null | undefined): string | null {
  if (typeof code !== 'string') return null;
  const upper = code.trim().toUpperCase();
  if (ALPHA3.test(upper)) return countries.alpha3ToAlpha2(upper) ?? null;
  if (ALPHA2.test(upper) && countries.isValid(upper)) return upper;
  return null;
}
const CURRENCY = /^[A-Z]{3}$/;

/** The amount and currency Allowance decides on: the cardholder's (billing) amount. */
function amountOf(req: LithicAsaRequest): { amount: number; currency: string } {
  const holder = req.amounts?.cardholder;
  if (holder) return { amount: holder.amount, currency: holder.currency.toUpperCase() };
  return {
    amount: req.authorization_amount ?? req.amount ?? 0,
    currency: (req.cardholder_currency ?? req.merchant_currency ?? 'XXX').toUpperCase(),
  };
}

/** The authorize request of an ASA request: the ASA `token` is the idempotency key (Lithic retries reuse it). */
export function lithicAuthorizeBody(req: LithicAsaRequest): Record<string, unknown> {
  const { amount, currency } = amountOf(req);
  const merchant: Record<string, string> = {};
  const m = req.merchant ?? {};
  if (m.acceptor_id) merchant.id = m.acceptor_id.slice(0, 128);
  if (m.descriptor) merchant.name = m.descriptor.slice(0, 200);
  if (m.mcc && MCC.test(m.mcc)) merchant.mcc = m.mcc;
  const country = lithicMerchantCountry(m.country);
  if (country !== null) merchant.country = country;
  return {
    authorization_id: req.token,
    credential_reference: req.card.token,
    amount: Math.max(0, amount),
    currency: CURRENCY.test(currency) ? currency : 'XXX',
    merchant,
    channel: req.pos?.terminal?.on_premise === true ? 'in_store' : 'online',
    partial_approval_supported: req.pos?.terminal?.partial_approval_capable === true,
  };
}

/** Lithic's ASA answer: `result` (APPROVED or a decline reason), `approved_amount` for a partial approval. */
export interface LithicAnswer {
  token: string;
  result: string;
  approved_amount?: number;
  /** Not read by Lithic: the decision, for the program's own logs. */
  allowance?: { decision_id?: string; action: string; reason_codes: string[]; proof_sha256?: string; stand_in?: true };
}

const MERCHANT_REASONS = new Set([
  'mcc_blocked',
  'mcc_not_allowed',
  'merchant_blocked',
  'merchant_not_allowed',
  'intent_merchant_mismatch',
  'country_not_allowed',
]);

/** The decline reason among Lithic's result values that best matches the decision's reason codes. */
export function lithicDeclineResult(reasons: readonly string[]): string {
  if (reasons.some((r) => MERCHANT_REASONS.has(r))) return 'UNAUTHORIZED_MERCHANT';
  if (reasons.some((r) => r.endsWith('_exceeded') || r.includes('budget'))) return 'VELOCITY_EXCEEDED';
  if (reasons.some((r) => r.includes('fraud') || r.includes('anomal'))) return 'SUSPECTED_FRAUD';
  return 'CARD_PAUSED';
}

/**
 * Maps a decision to Lithic's answer: ALLOW approves; ALLOW_WITH_LIMITS approves `approved_amount` when the
 * terminal takes partial approvals and declines otherwise; DENY and STEP_UP decline with a reason.
 */
export function lithicAnswer(token: string, decision: Decision, partialCapable: boolean): LithicAnswer {
  const allowance: NonNullable<LithicAnswer['allowance']> = {
    decision_id: decision.decision_id,
    action: decision.action,
    reason_codes: [...decision.reason_codes],
    proof_sha256: proofReference(decision.proof),
  };
  if (decision.stand_in) allowance.stand_in = true;
  if (decision.action === 'ALLOW' && decision.allowed) return { token, result: 'APPROVED', allowance };
  if (decision.action === 'ALLOW_WITH_LIMITS' && decision.allowed) {
    if (decision.approved_amount === decision.amount) return { token, result: 'APPROVED', allowance };
    if (partialCapable && decision.approved_amount > 0) {
      return { token, result: 'APPROVED', approved_amount: decision.approved_amount, allowance };
    }
    allowance.reason_codes.push('partial_amount_not_supported');
    return { token, result: 'INSUFFICIENT_FUNDS', allowance };
  }
  return { token, result: lithicDeclineResult(decision.reason_codes), allowance };
}

/** The answer when the card is bound in another org: nothing about that org is told. */
export function lithicForeignCardAnswer(token: string): LithicAnswer {
  return {
    token,
    result: lithicDeclineResult(['binding_not_found']),
    allowance: { action: 'DENY', reason_codes: ['binding_not_found'] },
  };
}
