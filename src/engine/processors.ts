import { AppError } from '../errors/index.js';
import { compileValidator, createNamedSchema } from '../schemas/index.js';
import type { Org, Processor } from '../types.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, newId } from '../util/ids.js';
import { type Actor, auditDraft, entityPayload } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';

const validateNamed = compileValidator<{ name: string }>(createNamedSchema);

const ACTIVE_CACHE_MS = 5_000;
const activeUntil = new WeakMap<EngineContext, Map<string, number>>();

/**
 * Throws `processor_not_active` unless the processor exists and is active. A positive answer is cached
 * for a few seconds: the hot path should not pay a lookup for an identity the caller already proved.
 */
export async function assertProcessorActive(ctx: EngineContext, processorId: string): Promise<void> {
  let cache = activeUntil.get(ctx);
  if (!cache) {
    cache = new Map();
    activeUntil.set(ctx, cache);
  }
  const now = ctx.clock.now();
  const until = cache.get(processorId);
  if (until !== undefined && until > now) return;
  const processor = await ctx.store.getProcessor(processorId);
  if (processor?.status !== 'active') {
    cache.delete(processorId);
    throw new AppError('processor_not_active', 'the processor is unknown or not active');
  }
  cache.set(processorId, now + ACTIVE_CACHE_MS);
}

/** Creates an enterprise tenant (operator). */
export async function createOrg(ctx: EngineContext, body: unknown, actor?: Actor): Promise<Org> {
  const { name } = validateNamed(cloneInput(body));
  const now = ctx.clock.now();
  const org: Org = { id: newId(ID_PREFIX.org, now), name, status: 'active', created_at: isoTime(now) };
  await ctx.store.insertOrg(
    org,
    auditDraft(ctx, {
      orgId: org.id,
      type: 'org.created',
      subject: { kind: 'org', id: org.id },
      agentId: null,
      payload: { org: entityPayload(org) },
      actor,
      atMs: now,
    }),
  );
  return org;
}

/** Creates a processor (operator). */
export async function createProcessor(ctx: EngineContext, body: unknown): Promise<Processor> {
  const { name } = validateNamed(cloneInput(body));
  const now = ctx.clock.now();
  const processor: Processor = {
    id: newId(ID_PREFIX.processor, now),
    name,
    status: 'active',
    created_at: isoTime(now),
  };
  await ctx.store.insertProcessor(processor);
  return processor;
}

/** The org, or `not_found`. */
export async function requireOrg(ctx: EngineContext, orgId: string): Promise<Org> {
  const org = await ctx.store.getOrg(orgId);
  if (!org) throw new AppError('not_found', 'org not found');
  return org;
}

/** An org by id, or null. */
export function getOrg(ctx: EngineContext, id: string): Promise<Org | null> {
  return ctx.store.getOrg(id);
}

/** A processor by id, or null. */
export function getProcessor(ctx: EngineContext, id: string): Promise<Processor | null> {
  return ctx.store.getProcessor(id);
}
