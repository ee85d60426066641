import type { IntentPolicyInput, PolicyUsage, SpendPolicyInput } from './types.js';

const NOW = '2026-01-15T12:00:00.000Z';

function usage(spent: number, count: number): PolicyUsage {
  return {
    daily: { period: '2026-01-15', spent, count },
    weekly: { period: '2026-W03', spent, count },
    monthly: { period: '2026-01', spent, count },
    total: { period: 'all', spent, count },
  };
}

function baseSpend(): SpendPolicyInput {
  return {
    version: '1',
    now: NOW,
    org: { id: 'org_smoke' },
    request: {
      authorization_id: 'pa_smoke',
      processor_id: 'prc_smoke',
      amount: 1850,
      currency: 'USD',
      merchant: { id: 'mer_smoke', name: 'Example Store', mcc: '5734', country: 'US' },
      channel: 'online',
      intent_id: null,
      partial_approval_supported: false,
    },
    agent: {
      id: 'agt_smoke',
      status: 'active',
      name: 'procurement-bot',
      owner: null,
      model_provider: null,
      model_name: null,
      framework: null,
      metadata: {},
    },
    authority: {
      id: 'sa_smoke',
      status: 'active',
      currency: 'USD',
      time_zone: 'UTC',
      limits: { per_transaction: 50_000, daily: 100_000, weekly: null, monthly: 1_000_000, total: null },
      velocity: { daily: null, weekly: null, monthly: null, total: null },
      merchant_rules: {
        allow_mcc: [],
        block_mcc: ['7995'],
        allow_merchant_ids: [],
        block_merchant_ids: [],
        allow_countries: [],
      },
      valid_from: null,
      valid_until: null,
      step_up_above: 25_000,
      require_intent: false,
      partial_approval: true,
      version: 1,
    },
    binding: {
      id: 'bnd_smoke',
      status: 'active',
      processor_id: 'prc_smoke',
      credential: { type: 'network_token', reference: 'tok_smoke', last4: '4242' },
    },
    usage: usage(0, 0),
    intent: null,
  };
}

/**
 * The fixed spend inputs every uploaded bundle is evaluated on before it is accepted: an ordinary payment,
 * one above the step-up threshold, one over the daily limit with partial approval, one with an intent, a
 * blocked category, a paused agent, an empty merchant. Each must produce a valid decision.
 */
export function smokeSpendInputs(): SpendPolicyInput[] {
  const plain = baseSpend();
  const large = baseSpend();
  large.request.amount = 30_000;
  const partial = baseSpend();
  partial.request.partial_approval_supported = true;
  partial.usage = usage(99_000, 12);
  const withIntent = baseSpend();
  withIntent.request.intent_id = 'int_smoke';
  withIntent.intent = {
    id: 'int_smoke',
    agent_id: 'agt_smoke',
    status: 'approved',
    max_amount: 5000,
    currency: 'USD',
    consumed_amount: 0,
    merchant: { id: 'mer_smoke' },
    expires_at: '2026-01-16T12:00:00.000Z',
    single_use: true,
  };
  const blocked = baseSpend();
  blocked.request.merchant = { id: 'mer_casino', mcc: '7995', country: 'MT' };
  const paused = baseSpend();
  paused.agent.status = 'paused';
  const bare = baseSpend();
  bare.request.merchant = {};
  bare.request.channel = 'in_store';
  return [plain, large, partial, withIntent, blocked, paused, bare];
}

/** The fixed intent inputs: an ordinary one, one above the step-up threshold, one with an empty merchant. */
export function smokeIntentInputs(): IntentPolicyInput[] {
  const spend = baseSpend();
  const plain: IntentPolicyInput = {
    version: '1',
    now: NOW,
    org: spend.org,
    request: {
      agent_id: 'agt_smoke',
      description: 'laptop',
      max_amount: 5000,
      currency: 'USD',
      merchant: { id: 'mer_smoke', mcc: '5734', country: 'US' },
      expires_at: '2026-01-16T12:00:00.000Z',
      single_use: true,
    },
    agent: spend.agent,
    authority: spend.authority,
    usage: spend.usage,
  };
  const large = structuredClone(plain);
  large.request.max_amount = 30_000;
  const bare = structuredClone(plain);
  bare.request.merchant = {};
  return [plain, large, bare];
}
