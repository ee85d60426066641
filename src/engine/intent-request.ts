import { AppError } from '../errors/index.js';
import { compileValidator, intentRequestSchema } from '../schemas/index.js';
import type { Intent, Merchant } from '../types.js';
import { isoTime, parseTime } from '../util/clock.js';
import { cloneInput } from './clone-input.js';

/** An intent request after validation, with defaults filled in and times normalized: the fields it gives an intent. */
export type NormalizedIntentRequest = Pick<
  Intent,
  'agent_id' | 'authority_id' | 'description' | 'max_amount' | 'currency' | 'merchant' | 'expires_at' | 'single_use'
>;

const validateIntent = compileValidator<{
  agent_id: string;
  authority_id?: string;
  description: string;
  max_amount: number;
  currency: string;
  merchant?: Merchant;
  expires_at: string;
  single_use: boolean;
}>(intentRequestSchema);

/** Validates an intent body (throws `validation_failed`) and returns its normalized form. */
export function parseIntentRequest(body: unknown): NormalizedIntentRequest {
  const raw = validateIntent(cloneInput(body));
  const expires = parseTime(raw.expires_at);
  if (Number.isNaN(expires)) {
    throw new AppError('validation_failed', '/expires_at is not a valid time between the years 0000 and 9999 (UTC)', {
      details: [
        {
          path: '/expires_at',
          message: 'is not a valid time between the years 0000 and 9999 (UTC)',
          keyword: 'format',
        },
      ],
    });
  }
  return {
    agent_id: raw.agent_id,
    authority_id: raw.authority_id ?? null,
    description: raw.description,
    max_amount: raw.max_amount,
    currency: raw.currency,
    merchant: { ...(raw.merchant ?? {}) },
    expires_at: isoTime(expires),
    single_use: raw.single_use,
  };
}
