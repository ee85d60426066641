import type { Engine } from '../src/engine/index.js';

/** The credential reference of the bench world's binding. */
export const BENCH_REFERENCE = 'tok_bench';

/**
 * The world every in-process engine benchmark authorizes in: one org, processor and agent, an authority
 * with every kind of rule a real one has (windows, velocity, merchant rules, a step-up threshold, partial
 * approvals) whose limits a benchmark never reaches, and a binding for {@link BENCH_REFERENCE}.
 */
export async function benchWorld(
  engine: Engine,
  agentMetadata?: Record<string, string>,
): Promise<{ orgId: string; processorId: string }> {
  const org = await engine.createOrg({ name: 'Bench Org' });
  const processor = await engine.createProcessor({ name: 'Bench Processor' });
  const agent = await engine.createAgent(org.id, {
    name: 'bench-agent',
    model_provider: 'acme',
    ...(agentMetadata ? { metadata: agentMetadata } : {}),
  });
  const authority = await engine.createAuthority(org.id, {
    agent_id: agent.id,
    currency: 'USD',
    time_zone: 'America/New_York',
    limits: { per_transaction: 100_000, daily: 1e12, weekly: 1e12, monthly: 1e12, total: 1e13 },
    velocity: { daily: 1e9 },
    merchant_rules: { block_mcc: ['7995'], allow_countries: ['US', 'CA'] },
    step_up_above: 90_000,
    partial_approval: true,
  });
  await engine.createBinding(org.id, {
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: { type: 'network_token', reference: BENCH_REFERENCE, last4: '4242' },
  });
  return { orgId: org.id, processorId: processor.id };
}

/** Authorization body `i` of a run: a plain approval in the bench world, its own authorization id. */
export function benchRequest(prefix: string, i: number) {
  return {
    authorization_id: `${prefix}_${i}_${process.pid}`,
    credential_reference: BENCH_REFERENCE,
    amount: 1850 + (i % 100),
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
    partial_approval_supported: true,
  };
}
