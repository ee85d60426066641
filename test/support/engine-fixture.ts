import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createEngine, type Engine, type EngineConfig } from '../../src/engine/index.js';
import { type LoadedPolicy, loadPolicy } from '../../src/policy/index.js';
import type { StorageAdapter } from '../../src/storage/index.js';
import type { Agent, CredentialBinding, Org, Processor, SpendingAuthority } from '../../src/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultBundle } from './policy-bundle.js';

let policy: Promise<LoadedPolicy> | undefined;

/** The default policies, built and loaded once per process. */
export function defaultPolicy(): Promise<LoadedPolicy> {
  policy ??= defaultBundle().then((bytes) => loadPolicy(bytes));
  return policy;
}

/** A ready engine with one org, processor, agent, authority and binding. */
export interface Fixture {
  engine: Engine;
  store: StorageAdapter;
  clock: ManualClock;
  org: Org;
  processor: Processor;
  agent: Agent;
  authority: SpendingAuthority;
  binding: CredentialBinding;
  /** A valid authorization body for the binding; override any field. */
  request(overrides?: Record<string, unknown>): Record<string, unknown>;
}

let seq = 0;

/** Builds a fixture; `authority` overrides the authority's creation body. */
export async function makeFixture(
  options: {
    authority?: Record<string, unknown>;
    store?: StorageAdapter;
    now?: string;
    config?: Partial<EngineConfig>;
    audit?: { enabled?: boolean };
    /** Claim leases measured on the fixture's manual clock (advance it to end a lease) instead of real time. */
    leasesOnClock?: boolean;
  } = {},
): Promise<Fixture> {
  const store = options.store ?? new MemoryAdapter();
  const clock = new ManualClock(options.now ?? '2026-11-23T10:00:00.000Z');
  const engine = createEngine({
    store,
    clock,
    policy: await defaultPolicy(),
    config: options.config,
    ...(options.leasesOnClock ? { elapsed: () => clock.now() } : {}),
    ...(options.audit ? { audit: options.audit } : {}),
  });
  await engine.init();
  const org = await engine.createOrg({ name: 'Acme' });
  const processor = await engine.createProcessor({ name: 'Processor One' });
  const agent = await engine.createAgent(org.id, { name: 'buyer', model_provider: 'acme-ai' });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    limits: { per_transaction: 50_000, daily: 100_000, weekly: 300_000, monthly: 1_000_000, total: 5_000_000 },
    ...options.authority,
  });
  const reference = `tok_${++seq}_${Math.random().toString(36).slice(2)}`;
  const binding = await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference, last4: '4242' },
  });
  let n = 0;
  const request = (overrides: Record<string, unknown> = {}) => ({
    authorization_id: `pa_${++n}_${Math.random().toString(36).slice(2)}`,
    credential_reference: reference,
    amount: 1850,
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
    ...overrides,
  });
  return { engine, store, clock, org, processor, agent, authority, binding, request };
}

/**
 * A request that decides through a pending claim: it names an intent (a plain request reserves first and
 * inserts its final record, with no claim). `overrides` as for `request`.
 */
export async function claimedRequest(f: Fixture, amount: number): Promise<Record<string, unknown>> {
  const { intent } = await f.engine.validateIntent(f.org.id, {
    agent_id: f.agent.id,
    description: 'Office supplies',
    max_amount: 100_000,
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', mcc: '5734', country: 'US' },
    expires_at: '2026-11-24T10:00:00Z',
    single_use: false,
  });
  return f.request({ amount, intent_id: intent.id });
}
