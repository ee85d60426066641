import { AppError } from '../errors/index.js';
import { compileValidator, createNamedSchema } from '../schemas/index.js';
import { isStorageError } from '../storage/index.js';
import type { Org, Processor } from '../types.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, isTestId, newId, testTwinId } from '../util/ids.js';
import { type Actor, auditDraft, entityPayload } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';

const validateNamed = compileValidator<{ name: string }>(createNamedSchema);

const ACTIVE_CACHE_MS = 5_000;
/**
 * Per engine, keyed by its `claimSightings` (one per engine, shared by the scoped context each authorize
 * makes): keyed by the context itself, every authorize would start an empty cache of its own.
 */
const activeUntil = new WeakMap<object, Map<string, number>>();

/**
 * Throws `processor_not_active` unless the processor exists and is active. A positive answer is cached
 * for a few seconds: the hot path should not pay a lookup for an identity the caller already proved.
 */
export async function assertProcessorActive(ctx: EngineContext, processorId: string): Promise<void> {
  let cache = activeUntil.get(ctx.claimSightings);
  if (!cache) {
    cache = new Map();
    activeUntil.set(ctx.claimSightings, cache);
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

/**
 * The test twin of a live org (`orgtest_…`), created on first use: the org test-mode credentials act for.
 * Its own audit chain starts with its `org.created`. `not_found` for an unknown live org.
 */
export async function ensureTestOrg(ctx: EngineContext, orgId: string, actor?: Actor): Promise<Org> {
  if (isTestId(orgId)) throw new AppError('not_found', 'org not found');
  const twinId = testTwinId(orgId);
  const existing = await ctx.store.getOrg(twinId);
  if (existing) return existing;
  const live = await ctx.store.getOrg(orgId);
  if (!live) throw new AppError('not_found', 'org not found');
  const now = ctx.clock.now();
  const org: Org = { id: twinId, name: live.name, status: 'active', created_at: isoTime(now) };
  try {
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
  } catch (err) {
    // Made at the same moment by another request: that one stands.
    if (!isStorageError(err, 'conflict')) throw err;
    const raced = await ctx.store.getOrg(twinId);
    if (raced) return raced;
    throw err;
  }
  return org;
}

/** The test twin of a live processor (`prctest_…`), created on first use. `not_found` for an unknown one. */
export async function ensureTestProcessor(ctx: EngineContext, processorId: string): Promise<Processor> {
  if (isTestId(processorId)) throw new AppError('not_found', 'processor not found');
  const twinId = testTwinId(processorId);
  const existing = await ctx.store.getProcessor(twinId);
  if (existing) return existing;
  const live = await ctx.store.getProcessor(processorId);
  if (!live) throw new AppError('not_found', 'processor not found');
  const processor: Processor = { id: twinId, name: live.name, status: 'active', created_at: isoTime(ctx.clock.now()) };
  try {
    await ctx.store.insertProcessor(processor);
  } catch (err) {
    if (!isStorageError(err, 'conflict')) throw err;
    const raced = await ctx.store.getProcessor(twinId);
    if (raced) return raced;
    throw err;
  }
  return processor;
}
