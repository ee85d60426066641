import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { TestApp, TestResponse } from './http-app.js';

/** A fresh ASA secret in the form Lithic hands it out (whsec_ + base64). */
export function lithicSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** An ASA request as Lithic posts it (the fields the bridge reads and a few it ignores). */
export function asaRequest(
  cardToken: string,
  overrides: { token?: string; amount?: number; partial?: boolean; mcc?: string; country?: string | null } = {},
): Record<string, unknown> {
  const amount = overrides.amount ?? 1850;
  return {
    token: overrides.token ?? randomUUID(),
    acquirer_fee: 0,
    amount,
    authorization_amount: amount,
    amounts: {
      cardholder: { amount, conversion_rate: '1.000000', currency: 'USD' },
      hold: { amount, currency: 'USD' },
      merchant: { amount, currency: 'USD' },
      settlement: null,
    },
    avs: { address: '', zipcode: '' },
    card: {
      token: cardToken,
      last_four: '4242',
      memo: 'agent card',
      spend_limit: 0,
      spend_limit_duration: 'FOREVER',
      state: 'OPEN',
      type: 'VIRTUAL',
    },
    cardholder_currency: 'USD',
    cash_amount: 0,
    created: new Date().toISOString(),
    merchant: {
      acceptor_id: '333301802529120',
      acquiring_institution_id: '191231',
      city: 'SAN FRANCISCO',
      country: overrides.country === undefined ? 'USA' : overrides.country,
      descriptor: 'EXAMPLE STORE',
      mcc: overrides.mcc ?? '5734',
      state: 'CA',
    },
    merchant_amount: amount,
    merchant_currency: 'USD',
    settled_amount: 0,
    status: 'AUTHORIZATION',
    transaction_initiator: 'CARDHOLDER',
    pos: {
      entry_mode: { card: 'NOT_PRESENT', cardholder: 'NOT_PRESENT', pan: 'ECOMMERCE', pin_entered: false },
      terminal: {
        attended: false,
        card_retention_capable: false,
        on_premise: false,
        operator: 'UNKNOWN',
        partial_approval_capable: overrides.partial ?? false,
        pin_capability: 'NOT_CAPABLE',
        type: 'UNKNOWN',
      },
    },
  };
}

/**
 * Posts `request` to the org's Lithic bridge, signed with `secret` at `timestampS` (default now) by the
 * Standard Webhooks signer the official `lithic` package verifies with.
 */
export async function postLithic(
  t: TestApp,
  orgId: string,
  request: Record<string, unknown>,
  secret: string,
  timestampS?: number,
  tamper?: (payload: string) => string,
  route = 'lithic-asa',
): Promise<TestResponse> {
  const payload = JSON.stringify(request);
  const id = `msg_${randomBytes(12).toString('hex')}`;
  const at = new Date((timestampS ?? Math.floor(Date.now() / 1000)) * 1000);
  const signature = new Webhook(secret).sign(id, at, payload);
  return t.call('POST', `/v1/bridges/${route}/${orgId}`, {
    raw: tamper ? tamper(payload) : payload,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    },
  });
}

/** A `card_transaction.updated` event of Lithic's event subscription for the transaction `token`. */
export function transactionEvent(
  token: string,
  cardToken: string,
  status: 'PENDING' | 'SETTLED' | 'VOIDED' | 'EXPIRED' | 'DECLINED',
  settledAmount = 0,
  events: Record<string, unknown>[] = [],
): Record<string, unknown> {
  return {
    event_type: 'card_transaction.updated',
    token,
    card_token: cardToken,
    status,
    settled_amount: settledAmount,
    amount: settledAmount,
    merchant_currency: 'USD',
    result: 'APPROVED',
    created: new Date().toISOString(),
    updated: new Date().toISOString(),
    events,
  };
}

/** One entry of a Lithic transaction's `events` (a CLEARING, a RETURN, …) for `amount`. */
export function transactionStep(type: string, amount: number, token: string = randomUUID()): Record<string, unknown> {
  return {
    token,
    type,
    result: 'APPROVED',
    amount,
    amounts: { cardholder: { amount, conversion_rate: '1.000000', currency: 'USD' } },
    created: new Date().toISOString(),
    detailed_results: ['APPROVED'],
  };
}

/** Posts a transaction event to the org's Lithic events bridge, signed like `postLithic`. */
export function postLithicEvent(
  t: TestApp,
  orgId: string,
  event: Record<string, unknown>,
  secret: string,
): Promise<TestResponse> {
  return postLithic(t, orgId, event, secret, undefined, undefined, 'lithic-events');
}

/**
 * Lithic's signing scheme for ASA requests and events (Standard Webhooks), written out with `node:crypto`
 * from the documentation alone: base64 HMAC-SHA256, keyed by the base64 secret after `whsec_`, over
 * `<webhook-id>.<webhook-timestamp>.<raw body>`, sent as `v1,<signature>`.
 */
export function lithicSignatureByHand(secret: string, id: string, timestampS: number, payload: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampS}.${payload}`).digest('base64')}`;
}

/** Posts `payload` as it is with the given Standard Webhooks headers. */
export function postLithicRaw(
  t: TestApp,
  orgId: string,
  payload: string,
  headers: { id: string; timestampS: number; signature: string },
  route = 'lithic-asa',
): Promise<TestResponse> {
  return t.call('POST', `/v1/bridges/${route}/${orgId}`, {
    raw: payload,
    headers: {
      'content-type': 'application/json',
      'webhook-id': headers.id,
      'webhook-timestamp': String(headers.timestampS),
      'webhook-signature': headers.signature,
    },
  });
}
