import {
  type IntentPolicyInput,
  type PolicyLocalTime,
  type SpendPolicyInput,
  sharedInputPart,
} from '../policy/index.js';
import type { Agent, CredentialBinding, Intent, Merchant, SpendingAuthority, UsageSnapshot } from '../types.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import type { NormalizedIntentRequest } from './intent-request.js';
import { isValidTimeZone, localTimeAt } from './windows.js';

/** Version of the policy input contract (policies/schemas/*-input.schema.json). */
export const POLICY_INPUT_VERSION = '1';

function merchantOf(m: Merchant): Merchant {
  const out: Merchant = {};
  if (m.id !== undefined) out.id = m.id;
  if (m.name !== undefined) out.name = m.name;
  if (m.mcc !== undefined) out.mcc = m.mcc;
  if (m.country !== undefined) out.country = m.country;
  return out;
}

/**
 * The projections of the entities, one per entity object: a store that returns the same (immutable) object
 * until the entity changes, as the memory store does, gets one shared frozen projection per version of the
 * agent, authority and binding, which every stored policy input of that version references instead of
 * holding a copy of its own (replay still reads the whole input from the record), and whose JSON is written
 * once for every evaluation of that version (`sharedInputPart`).
 */
const agentViews = new WeakMap<Agent, SpendPolicyInput['agent']>();
const authorityViews = new WeakMap<SpendingAuthority, SpendPolicyInput['authority']>();
const bindingViews = new WeakMap<CredentialBinding, SpendPolicyInput['binding']>();

function agentOf(a: Agent): SpendPolicyInput['agent'] {
  let view = agentViews.get(a);
  if (view === undefined) {
    view = sharedInputPart(agentView(a));
    agentViews.set(a, view);
  }
  return view;
}

function authorityOf(s: SpendingAuthority): SpendPolicyInput['authority'] {
  let view = authorityViews.get(s);
  if (view === undefined) {
    view = sharedInputPart(authorityView(s));
    authorityViews.set(s, view);
  }
  return view;
}

function bindingOf(b: CredentialBinding): SpendPolicyInput['binding'] {
  let view = bindingViews.get(b);
  if (view === undefined) {
    view = sharedInputPart({ id: b.id, status: b.status, processor_id: b.processor_id, credential: b.credential });
    bindingViews.set(b, view);
  }
  return view;
}

function agentView(a: Agent): SpendPolicyInput['agent'] {
  return {
    id: a.id,
    status: a.status,
    name: a.name,
    owner: a.owner,
    model_provider: a.model_provider,
    model_name: a.model_name,
    framework: a.framework,
    metadata: a.metadata,
  };
}

function authorityView(s: SpendingAuthority): SpendPolicyInput['authority'] {
  return {
    id: s.id,
    status: s.status,
    currency: s.currency,
    time_zone: s.time_zone,
    limits: s.limits,
    velocity: s.velocity,
    merchant_rules: s.merchant_rules,
    valid_from: s.valid_from,
    valid_until: s.valid_until,
    step_up_above: s.step_up_above,
    require_intent: s.require_intent,
    partial_approval: s.partial_approval,
    version: s.version,
  };
}

/** The spend policy input: a stable, versioned projection of the entities (no storage internals). */
export function buildSpendInput(parts: {
  now: string;
  localTime: PolicyLocalTime;
  request: NormalizedAuthorizeRequest;
  processorId: string;
  agent: Agent;
  authority: SpendingAuthority;
  binding: CredentialBinding;
  usage: UsageSnapshot;
  intent: Intent | null;
}): SpendPolicyInput {
  const { request: r, binding: b, intent: i } = parts;
  return {
    version: POLICY_INPUT_VERSION,
    now: parts.now,
    local_time: parts.localTime,
    org: { id: b.org_id },
    request: {
      authorization_id: r.authorization_id,
      processor_id: parts.processorId,
      amount: r.amount,
      currency: r.currency,
      merchant: merchantOf(r.merchant),
      channel: r.channel,
      intent_id: r.intent_id,
      partial_approval_supported: r.partial_approval_supported,
    },
    agent: agentOf(parts.agent),
    authority: authorityOf(parts.authority),
    binding: bindingOf(b),
    usage: parts.usage,
    intent: i
      ? {
          id: i.id,
          agent_id: i.agent_id,
          status: i.status,
          max_amount: i.max_amount,
          currency: i.currency,
          consumed_amount: i.consumed_amount,
          merchant: merchantOf(i.merchant),
          expires_at: i.expires_at,
          single_use: i.single_use,
        }
      : null,
  };
}

/**
 * The input with `local_time`, derived from `now` and the authority's time zone when it lacks one (inputs
 * stored before the field existed); unchanged when it has one or the zone is unknown to this runtime.
 */
export function withLocalTime(input: SpendPolicyInput): SpendPolicyInput {
  if (input.local_time !== undefined) return input;
  const nowMs = Date.parse(input.now);
  const zone: unknown = input.authority?.time_zone;
  if (!Number.isFinite(nowMs) || typeof zone !== 'string' || !isValidTimeZone(zone)) return input;
  return { ...input, local_time: localTimeAt(nowMs, zone) };
}

/** The intent policy input. */
export function buildIntentInput(parts: {
  now: string;
  orgId: string;
  request: NormalizedIntentRequest;
  agent: Agent;
  authority: SpendingAuthority;
  usage: UsageSnapshot;
}): IntentPolicyInput {
  const r = parts.request;
  return {
    version: POLICY_INPUT_VERSION,
    now: parts.now,
    org: { id: parts.orgId },
    request: {
      agent_id: r.agent_id,
      description: r.description,
      max_amount: r.max_amount,
      currency: r.currency,
      merchant: merchantOf(r.merchant),
      expires_at: r.expires_at,
      single_use: r.single_use,
    },
    agent: agentOf(parts.agent),
    authority: authorityOf(parts.authority),
    usage: parts.usage,
  };
}
