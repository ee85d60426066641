import type { IntentPolicyInput, PolicyUsageWindow, SpendPolicyInput } from '../../src/policy/types.js';

/** The clock of every fixture. */
export const NOW = '2026-11-23T10:00:00.000Z';

/** A usage window with the given spent amount and count. */
export function usageWindow(spent = 0, count = 0): PolicyUsageWindow {
  return { period: 'p', spent, count };
}

/** A spend input that the default policy allows; tests change what they need. */
export function spendInput(): SpendPolicyInput {
  return {
    version: '1',
    now: NOW,
    org: { id: 'org_1' },
    request: {
      authorization_id: 'az_1',
      processor_id: 'prc_1',
      amount: 1000,
      currency: 'EUR',
      merchant: { id: 'm_1', name: 'Corner Shop', mcc: '5411', country: 'DE' },
      channel: 'online',
      intent_id: null,
      partial_approval_supported: false,
    },
    agent: {
      id: 'agt_1',
      status: 'active',
      name: 'buyer',
      owner: null,
      model_provider: null,
      model_name: null,
      framework: null,
      metadata: {},
    },
    authority: {
      id: 'sa_1',
      status: 'active',
      currency: 'EUR',
      time_zone: 'UTC',
      limits: { per_transaction: null, daily: null, weekly: null, monthly: null, total: null },
      velocity: { daily: null, weekly: null, monthly: null, total: null },
      merchant_rules: {
        allow_mcc: [],
        block_mcc: [],
        allow_merchant_ids: [],
        block_merchant_ids: [],
        allow_countries: [],
      },
      valid_from: null,
      valid_until: null,
      step_up_above: null,
      require_intent: false,
      partial_approval: false,
      version: 1,
    },
    binding: { id: 'bnd_1', status: 'active', processor_id: 'prc_1', credential: { type: 'card', reference: 'tok_1' } },
    usage: { daily: usageWindow(), weekly: usageWindow(), monthly: usageWindow(), total: usageWindow() },
    intent: null,
  };
}

/** An intent input that the default policy allows. */
export function intentInput(): IntentPolicyInput {
  const spend = spendInput();
  return {
    version: '1',
    now: NOW,
    org: spend.org,
    request: {
      agent_id: 'agt_1',
      description: 'weekly groceries',
      max_amount: 1000,
      currency: 'EUR',
      merchant: { id: 'm_1', mcc: '5411', country: 'DE' },
      expires_at: '2026-11-24T10:00:00.000Z',
      single_use: true,
    },
    agent: spend.agent,
    authority: spend.authority,
    usage: spend.usage,
  };
}
