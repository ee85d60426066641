import { isPolicyError } from './errors.js';
import { INTENT_ENTRYPOINT, type LoadedPolicy, SPEND_ENTRYPOINT } from './runtime.js';
import type { IntentPolicyInput, PolicyAuthority, PolicyUsage, SpendPolicyInput } from './types.js';

/**
 * The engine's conformance cases for policies: a fixed set of inputs, each valid against
 * policies/schemas/spend-input or intent-input, that any policy must answer with a valid
 * decision. They cover the shapes a policy meets in production and a careless rule trips
 * over: weekdays and weekends, every status, empty and full rule lists, missing optional
 * merchant fields, zero and very large amounts, exhausted windows, intents present and absent.
 */
export interface ConformanceCase<I> {
  /** Stable name, printed when the case fails. */
  name: string;
  input: I;
}

/** A conformance case the policy failed. */
export interface ConformanceProblem {
  input: string;
  entrypoint: string;
  /** The policy error code: policy_evaluation_failed (it threw), policy_no_result, policy_output_invalid. */
  code: string;
  message: string;
}

const MONDAY = '2026-11-23T10:00:00.000Z';
const SATURDAY = '2026-11-28T23:30:00.000Z';
const SUNDAY = '2026-11-29T00:15:00.000Z';
const LARGE = 9_007_199_254_740;

function authority(over: Partial<PolicyAuthority> = {}): PolicyAuthority {
  return {
    id: 'sa_conformance',
    status: 'active',
    currency: 'USD',
    time_zone: 'America/New_York',
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
    ...over,
  };
}

function usage(spent = 0, count = 0): PolicyUsage {
  return {
    daily: { period: '2026-11-23', spent, count },
    weekly: { period: '2026-W48', spent, count },
    monthly: { period: '2026-11', spent, count },
    total: { period: 'all', spent, count },
  };
}

const agent: SpendPolicyInput['agent'] = {
  id: 'agt_conformance',
  status: 'active',
  name: 'procurement-bot',
  owner: null,
  model_provider: null,
  model_name: null,
  framework: null,
  metadata: {},
};

function spend(
  over: Partial<SpendPolicyInput> = {},
  request: Partial<SpendPolicyInput['request']> = {},
): SpendPolicyInput {
  return {
    version: '1',
    now: MONDAY,
    org: { id: 'org_conformance' },
    request: {
      authorization_id: 'pa_conformance',
      processor_id: 'prc_conformance',
      amount: 1850,
      currency: 'USD',
      merchant: { id: 'mer_conformance', name: 'Example Store', mcc: '5734', country: 'US' },
      channel: 'online',
      intent_id: null,
      partial_approval_supported: false,
      ...request,
    },
    agent,
    authority: authority(),
    binding: {
      id: 'bnd_conformance',
      status: 'active',
      processor_id: 'prc_conformance',
      credential: { type: 'network_token', reference: 'tok_conformance' },
    },
    usage: usage(),
    intent: null,
    ...over,
  };
}

function intent(
  over: Partial<IntentPolicyInput> = {},
  request: Partial<IntentPolicyInput['request']> = {},
): IntentPolicyInput {
  return {
    version: '1',
    now: MONDAY,
    org: { id: 'org_conformance' },
    request: {
      agent_id: agent.id,
      description: 'laptop for a new hire',
      max_amount: 150_000,
      currency: 'USD',
      merchant: { id: 'mer_conformance', name: 'Example Store', mcc: '5734', country: 'US' },
      expires_at: '2026-11-24T10:00:00.000Z',
      single_use: true,
      ...request,
    },
    agent,
    authority: authority(),
    usage: usage(),
    ...over,
  };
}

const strictRules = authority({
  limits: { per_transaction: 1000, daily: 5000, weekly: 10_000, monthly: 20_000, total: 100_000 },
  velocity: { daily: 1, weekly: 2, monthly: 3, total: 4 },
  merchant_rules: {
    allow_mcc: ['5411'],
    block_mcc: ['5734'],
    allow_merchant_ids: ['mer_other'],
    block_merchant_ids: ['mer_conformance'],
    allow_countries: ['DE'],
  },
  valid_from: '2026-01-01T00:00:00.000Z',
  valid_until: '2026-11-01T00:00:00.000Z',
  step_up_above: 500,
  require_intent: true,
});

const labelledAgent: SpendPolicyInput['agent'] = {
  ...agent,
  owner: 'finance@example.com',
  model_provider: 'example',
  model_name: 'model-1',
  framework: 'custom',
  metadata: { cost_centre: 'unknown-centre', team: 'platform' },
};

/** The spend inputs every policy must answer with a valid decision. */
export const SPEND_CONFORMANCE_CASES: readonly ConformanceCase<SpendPolicyInput>[] = [
  { name: 'spend_weekday_basic', input: spend() },
  { name: 'spend_saturday_night', input: spend({ now: SATURDAY }) },
  { name: 'spend_sunday_early', input: spend({ now: SUNDAY }) },
  { name: 'spend_zero_amount', input: spend({}, { amount: 0 }) },
  { name: 'spend_negative_amount', input: spend({}, { amount: -1 }) },
  { name: 'spend_very_large_amount', input: spend({}, { amount: LARGE }) },
  { name: 'spend_merchant_without_fields', input: spend({}, { merchant: {} }) },
  { name: 'spend_in_store_other_currency', input: spend({}, { channel: 'in_store', currency: 'EUR' }) },
  { name: 'spend_recurring', input: spend({}, { channel: 'recurring' }) },
  { name: 'spend_labelled_agent', input: spend({ agent: labelledAgent }) },
  {
    name: 'spend_inactive_everything',
    input: spend({
      agent: { ...agent, status: 'revoked' },
      authority: authority({ status: 'paused' }),
      binding: {
        id: 'bnd_x',
        status: 'suspended',
        processor_id: 'prc_x',
        credential: { type: 'card', reference: 'r' },
      },
    }),
  },
  { name: 'spend_strict_rules_exhausted_windows', input: spend({ authority: strictRules, usage: usage(100_000, 4) }) },
  {
    name: 'spend_partial_approval_possible',
    input: spend(
      {
        authority: authority({
          partial_approval: true,
          limits: { per_transaction: null, daily: 2000, weekly: null, monthly: null, total: null },
        }),
        usage: usage(1000, 1),
      },
      { partial_approval_supported: true },
    ),
  },
  {
    name: 'spend_with_approved_intent',
    input: spend(
      {
        intent: {
          id: 'int_conformance',
          agent_id: agent.id,
          status: 'approved',
          max_amount: 5000,
          currency: 'USD',
          consumed_amount: 0,
          merchant: { id: 'mer_conformance', mcc: '5734', country: 'US' },
          expires_at: '2026-11-24T10:00:00.000Z',
          single_use: true,
        },
      },
      { intent_id: 'int_conformance' },
    ),
  },
  { name: 'spend_unknown_intent', input: spend({}, { intent_id: 'int_missing' }) },
];

/** The intent inputs every policy must answer with a valid decision. */
export const INTENT_CONFORMANCE_CASES: readonly ConformanceCase<IntentPolicyInput>[] = [
  { name: 'intent_weekday_basic', input: intent() },
  { name: 'intent_saturday_night', input: intent({ now: SATURDAY }) },
  { name: 'intent_sunday_early', input: intent({ now: SUNDAY }) },
  { name: 'intent_zero_amount', input: intent({}, { max_amount: 0 }) },
  { name: 'intent_very_large_amount', input: intent({}, { max_amount: LARGE }) },
  { name: 'intent_merchant_without_fields', input: intent({}, { merchant: {}, description: '' }) },
  { name: 'intent_labelled_agent', input: intent({ agent: labelledAgent }) },
  {
    name: 'intent_inactive_everything',
    input: intent({ agent: { ...agent, status: 'paused' }, authority: authority({ status: 'revoked' }) }),
  },
  {
    name: 'intent_strict_rules_exhausted_windows',
    input: intent({ authority: strictRules, usage: usage(100_000, 4) }),
  },
];

function attempt(name: string, entrypoint: string, run: () => unknown): ConformanceProblem | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (isPolicyError(err)) return { input: name, entrypoint, code: err.code, message: err.message };
    return { input: name, entrypoint, code: 'policy_evaluation_failed', message: String(err) };
  }
}

/**
 * Evaluates every conformance case against a loaded policy and returns the cases it failed:
 * a policy that throws, returns nothing or returns a decision outside
 * decision-output.schema.json (or an approved_amount not below the amount) fails. An empty
 * list means the policy answers every case.
 */
export function checkPolicyConformance(policy: LoadedPolicy): ConformanceProblem[] {
  const problems: ConformanceProblem[] = [];
  for (const c of SPEND_CONFORMANCE_CASES) {
    const p = attempt(c.name, SPEND_ENTRYPOINT, () => policy.evaluateSpend(c.input));
    if (p !== undefined) problems.push(p);
  }
  for (const c of INTENT_CONFORMANCE_CASES) {
    const p = attempt(c.name, INTENT_ENTRYPOINT, () => policy.evaluateIntent(c.input));
    if (p !== undefined) problems.push(p);
  }
  return problems;
}
