import { AppError } from '../errors/index.js';
import { compileValidator, createAgentSchema, updateAgentSchema } from '../schemas/index.js';
import type { Page } from '../storage/index.js';
import type { Agent } from '../types.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, newId } from '../util/ids.js';
import { type Actor, auditDraft, entityPayload } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { parseListQuery } from './list-query.js';
import { requireOrg } from './processors.js';
import { acquireQuota, releaseQuota } from './quotas.js';

type AgentInput = Partial<Pick<Agent, 'owner' | 'description' | 'model_provider' | 'model_name' | 'framework'>> & {
  name: string;
  metadata?: Record<string, string>;
};

const validateCreate = compileValidator<AgentInput>(createAgentSchema);
const validateUpdate = compileValidator<Partial<AgentInput> & { status?: 'active' | 'paused' }>(updateAgentSchema);

/** Registers an agent in an org. */
export async function createAgent(ctx: EngineContext, orgId: string, body: unknown, actor?: Actor): Promise<Agent> {
  const input = validateCreate(cloneInput(body));
  await requireOrg(ctx, orgId);
  const now = ctx.clock.now();
  const agent: Agent = {
    id: newId(ID_PREFIX.agent, now),
    org_id: orgId,
    name: input.name,
    owner: input.owner ?? null,
    description: input.description ?? null,
    model_provider: input.model_provider ?? null,
    model_name: input.model_name ?? null,
    framework: input.framework ?? null,
    status: 'active',
    metadata: input.metadata ?? {},
    version: 0,
    created_at: isoTime(now),
    updated_at: isoTime(now),
  };
  // The plan's agent count is taken first, in one conditional write, so concurrent creations on any number
  // of servers never pass it; a failed insert gives it back.
  await acquireQuota(ctx, orgId, 'agents');
  try {
    await ctx.store.insertAgent(
      agent,
      auditDraft(ctx, {
        orgId,
        type: 'agent.created',
        subject: { kind: 'agent', id: agent.id },
        agentId: agent.id,
        payload: { agent: entityPayload(agent) },
        actor,
        atMs: now,
      }),
    );
  } catch (err) {
    await releaseQuota(ctx, orgId, 'agents');
    throw err;
  }
  return agent;
}

/** The agent, or `not_found` (also for another org's agent). */
export async function getAgent(ctx: EngineContext, orgId: string, id: string): Promise<Agent> {
  const agent = await ctx.store.getAgent(orgId, id);
  if (!agent) throw new AppError('not_found', 'agent not found');
  return agent;
}

/** A page of an org's agents; filter by status. */
export async function listAgents(ctx: EngineContext, orgId: string, query?: unknown): Promise<Page<Agent>> {
  return ctx.store.listAgents(orgId, parseListQuery(query));
}

/** Changes an agent's descriptive fields or pauses/resumes it. A revoked agent cannot change. */
export async function updateAgent(
  ctx: EngineContext,
  orgId: string,
  id: string,
  body: unknown,
  actor?: Actor,
): Promise<Agent> {
  const patch = validateUpdate(cloneInput(body));
  const agent = await getAgent(ctx, orgId, id);
  if (agent.status === 'revoked') throw new AppError('invalid_state', 'a revoked agent cannot change');
  const now = ctx.clock.now();
  const type =
    patch.status === 'paused' && agent.status !== 'paused'
      ? 'agent.paused'
      : patch.status === 'active' && agent.status === 'paused'
        ? 'agent.resumed'
        : 'agent.updated';
  const updated = await ctx.store.updateAgent(
    orgId,
    id,
    agent.version,
    { ...patch, updated_at: isoTime(now) },
    auditDraft(ctx, {
      orgId,
      type,
      subject: { kind: 'agent', id },
      agentId: id,
      payload: { changes: patch, previous_status: agent.status },
      actor,
      atMs: now,
    }),
  );
  if (!updated) throw new AppError('not_found', 'agent not found');
  return updated;
}

/**
 * Revokes an agent for good and suspends its active bindings, so no credential can spend for it.
 * Idempotent: revoking a revoked agent returns it unchanged (and finishes suspending bindings).
 */
export async function revokeAgent(ctx: EngineContext, orgId: string, id: string, actor?: Actor): Promise<Agent> {
  let agent = await getAgent(ctx, orgId, id);
  const nowMs = ctx.clock.now();
  const now = isoTime(nowMs);
  if (agent.status !== 'revoked') {
    const revoked = await ctx.store.updateAgent(
      orgId,
      id,
      agent.version,
      { status: 'revoked', updated_at: now },
      auditDraft(ctx, {
        orgId,
        type: 'agent.revoked',
        subject: { kind: 'agent', id },
        agentId: id,
        payload: { previous_status: agent.status },
        actor,
        atMs: nowMs,
      }),
    );
    // Only the revocation that won the compare-and-set gives the agent's place in the plan back.
    if (revoked) {
      agent = revoked;
      await releaseQuota(ctx, orgId, 'agents');
    }
  }
  let cursor: string | undefined;
  do {
    const page = await ctx.store.listBindings(orgId, { limit: 100, agent_id: id, status: 'active', cursor });
    for (const b of page.items) {
      await ctx.store.updateBinding(
        orgId,
        b.id,
        b.version,
        { status: 'suspended', updated_at: now },
        auditDraft(ctx, {
          orgId,
          type: 'binding.suspended',
          subject: { kind: 'binding', id: b.id },
          agentId: id,
          payload: { previous_status: b.status, reason: 'agent_revoked' },
          actor,
          atMs: nowMs,
        }),
      );
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return agent;
}
