import type { StorageAdapter } from '../../src/storage/index.js';
import type { Agent, Org, SpendingAuthority } from '../../src/types.js';
import { makeAgent, makeAuthority, makeOrg } from './fixtures.js';

/** An org with one agent and one authority, stored through the adapter. */
export interface Tenant {
  org: Org;
  agent: Agent;
  authority: SpendingAuthority;
}

/** Inserts a fresh org, agent and authority. */
export async function seedTenant(adapter: StorageAdapter): Promise<Tenant> {
  const org = makeOrg();
  const agent = makeAgent(org.id);
  const authority = makeAuthority(org.id, agent.id);
  await adapter.insertOrg(org);
  await adapter.insertAgent(agent);
  await adapter.insertAuthority(authority);
  return { org, agent, authority };
}
