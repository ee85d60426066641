import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { TestApp, TestResponse } from './http-app.js';

/** The API version the test events claim. */
export const EVENT_API_VERSION = '2025-01-27.acacia';

/** A fresh Stripe webhook signing secret. */
export function stripeSecret(): string {
  return `whsec_${randomBytes(24).toString('hex')}`;
}

/** An Issuing authorization object as Stripe sends it (the fields the bridge reads and a few it ignores). */
export function issuingAuthorization(
  cardId: string,
  overrides: { id?: string; amount?: number; controllable?: boolean; approved?: boolean; status?: string } = {},
): Record<string, unknown> {
  const amount = overrides.amount ?? 1850;
  return {
    id: overrides.id ?? `iauth_${randomBytes(12).toString('hex')}`,
    object: 'issuing.authorization',
    amount: 0,
    approved: overrides.approved ?? false,
    authorization_method: 'online',
    card: { id: cardId, object: 'issuing.card', last4: '4242' },
    currency: 'usd',
    livemode: false,
    merchant_amount: 0,
    merchant_currency: 'usd',
    merchant_data: {
      category: 'computer_software_stores',
      category_code: '5734',
      city: 'San Francisco',
      country: 'us',
      name: 'Example Store',
      network_id: '1234567890',
      postal_code: '94103',
      state: 'CA',
    },
    metadata: {},
    pending_request: {
      amount,
      amount_details: { atm_fee: null, cashback_amount: null },
      currency: 'usd',
      is_amount_controllable: overrides.controllable ?? false,
      merchant_amount: amount,
      merchant_currency: 'usd',
    },
    status: overrides.status ?? 'pending',
  };
}

/** A Stripe event of `type` around `object`. */
export function stripeEvent(type: string, object: Record<string, unknown>): Record<string, unknown> {
  return {
    id: `evt_${randomBytes(12).toString('hex')}`,
    object: 'event',
    api_version: EVENT_API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type,
    data: { object },
  };
}

/**
 * Posts `event` to the org's bridge, signed by Stripe's own test header generator with `secret` at
 * `timestampS` (default now).
 */
export async function postStripe(
  t: TestApp,
  orgId: string,
  event: Record<string, unknown>,
  secret: string,
  timestampS?: number,
): Promise<TestResponse> {
  const payload = JSON.stringify(event);
  const header = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestampS !== undefined ? { timestamp: timestampS } : {}),
  });
  return t.call('POST', `/v1/bridges/stripe-issuing/${orgId}`, {
    raw: payload,
    headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': header },
  });
}
