import { AppError } from '../errors/index.js';
import { compileValidator, createAuthoritySchema, updateAuthoritySchema } from '../schemas/index.js';
import type { Page } from '../storage/index.js';
import type { AmountLimits, MerchantRules, SpendingAuthority, StandInRule, VelocityLimits } from '../types.js';
import { isoTime, parseTime } from '../util/clock.js';
import { ID_PREFIX, newId } from '../util/ids.js';
import { getAgent } from './agents.js';
import { type Actor, auditDraft, entityPayload } from './audit-drafts.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { parseListQuery } from './list-query.js';
import { isValidTimeZone, periodsAt, WINDOWS, type Window } from './windows.js';

interface RuleInput {
  time_zone?: string;
  limits?: Partial<AmountLimits>;
  velocity?: Partial<VelocityLimits>;
  merchant_rules?: Partial<MerchantRules>;
  valid_from?: string | null;
  valid_until?: string | null;
  step_up_above?: number | null;
  require_intent?: boolean;
  partial_approval?: boolean;
  hold_period_seconds?: number | null;
  stand_in?: { action: 'DENY' | 'ALLOW_UP_TO'; max_amount?: number | null };
}

/** The stand-in rule of an authority that sets none (also of one stored before the field existed). */
export const DEFAULT_STAND_IN: StandInRule = { action: 'DENY', max_amount: null };

function standInRule(input: RuleInput['stand_in'], base: StandInRule | undefined): StandInRule {
  if (input === undefined) return base ?? DEFAULT_STAND_IN;
  if (input.action === 'DENY') {
    if (input.max_amount !== undefined && input.max_amount !== null) {
      throw invalid('/stand_in/max_amount', 'must be null or absent when action is DENY');
    }
    return { action: 'DENY', max_amount: null };
  }
  if (input.max_amount === undefined || input.max_amount === null) {
    throw invalid('/stand_in/max_amount', 'is required when action is ALLOW_UP_TO');
  }
  return { action: 'ALLOW_UP_TO', max_amount: input.max_amount };
}

const validateCreate = compileValidator<RuleInput & { agent_id: string; currency: string }>(createAuthoritySchema);
const validateUpdate = compileValidator<RuleInput & { status?: 'active' | 'paused' }>(updateAuthoritySchema);

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `${path} ${message}`, {
    details: [{ path, message, keyword: 'semantic' }],
  });
}

function normalizeTime(path: string, value: string | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  const ms = parseTime(value);
  if (Number.isNaN(ms)) throw invalid(path, 'is not a valid time between the years 0000 and 9999 (UTC)');
  return isoTime(ms);
}

/** Normalizes and cross-checks rule fields; fills defaults when `base` is absent (creation). */
function applyRules(
  input: RuleInput,
  base?: SpendingAuthority,
): Omit<
  SpendingAuthority,
  'id' | 'org_id' | 'agent_id' | 'currency' | 'status' | 'version' | 'created_at' | 'updated_at'
> {
  const timeZone = input.time_zone ?? base?.time_zone ?? 'UTC';
  if (!isValidTimeZone(timeZone)) throw invalid('/time_zone', 'is not a known IANA time zone');
  const limits: AmountLimits = {
    per_transaction: null,
    daily: null,
    weekly: null,
    monthly: null,
    total: null,
    ...base?.limits,
    ...input.limits,
  };
  const velocity: VelocityLimits = {
    daily: null,
    weekly: null,
    monthly: null,
    total: null,
    ...base?.velocity,
    ...input.velocity,
  };
  const rules: MerchantRules = {
    allow_mcc: [],
    block_mcc: [],
    allow_merchant_ids: [],
    block_merchant_ids: [],
    allow_countries: [],
    ...base?.merchant_rules,
    ...input.merchant_rules,
  };
  const validFrom = input.valid_from !== undefined ? normalizeTime('/valid_from', input.valid_from) : base?.valid_from;
  const validUntil =
    input.valid_until !== undefined ? normalizeTime('/valid_until', input.valid_until) : base?.valid_until;
  if (validFrom && validUntil && validFrom >= validUntil) throw invalid('/valid_until', 'must be after valid_from');
  const windowOrder: Window[] = ['daily', 'weekly', 'monthly', 'total'];
  for (let i = 0; i < windowOrder.length; i++) {
    for (let j = i + 1; j < windowOrder.length; j++) {
      const a = limits[windowOrder[i] as Window];
      const b = limits[windowOrder[j] as Window];
      if (a !== null && b !== null && a > b) {
        throw invalid(`/limits/${windowOrder[i]}`, `must not exceed the ${windowOrder[j]} limit`);
      }
    }
  }
  const overlap = rules.allow_mcc.filter((m) => rules.block_mcc.includes(m));
  if (overlap.length) throw invalid('/merchant_rules/block_mcc', `lists ${overlap.join(', ')} that allow_mcc allows`);
  return {
    time_zone: timeZone,
    limits,
    velocity,
    merchant_rules: rules,
    valid_from: validFrom ?? null,
    valid_until: validUntil ?? null,
    step_up_above: input.step_up_above !== undefined ? input.step_up_above : (base?.step_up_above ?? null),
    require_intent: input.require_intent ?? base?.require_intent ?? false,
    partial_approval: input.partial_approval ?? base?.partial_approval ?? false,
    hold_period_seconds:
      input.hold_period_seconds !== undefined ? input.hold_period_seconds : (base?.hold_period_seconds ?? null),
    stand_in: standInRule(input.stand_in, base?.stand_in),
  };
}

/** Grants a spending authority to an agent of the org. */
export async function createAuthority(
  ctx: EngineContext,
  orgId: string,
  body: unknown,
  actor?: Actor,
): Promise<SpendingAuthority> {
  const input = validateCreate(cloneInput(body));
  const agent = await getAgent(ctx, orgId, input.agent_id);
  if (agent.status === 'revoked') throw new AppError('invalid_state', 'the agent is revoked');
  const now = ctx.clock.now();
  const authority: SpendingAuthority = {
    id: newId(ID_PREFIX.authority, now),
    org_id: orgId,
    agent_id: agent.id,
    currency: input.currency,
    ...applyRules(input),
    status: 'active',
    version: 0,
    created_at: isoTime(now),
    updated_at: isoTime(now),
  };
  await ctx.store.insertAuthority(
    authority,
    auditDraft(ctx, {
      orgId,
      type: 'authority.created',
      subject: { kind: 'authority', id: authority.id },
      agentId: authority.agent_id,
      payload: { authority: entityPayload(authority) },
      actor,
      atMs: now,
    }),
  );
  return authority;
}

/** The authority, or `not_found`. */
export async function getAuthority(ctx: EngineContext, orgId: string, id: string): Promise<SpendingAuthority> {
  const authority = await ctx.store.getAuthority(orgId, id);
  if (!authority) throw new AppError('not_found', 'authority not found');
  return withDefaults(authority);
}

/** An authority stored before a field existed, with that field's default. */
function withDefaults(authority: SpendingAuthority): SpendingAuthority {
  return authority.hold_period_seconds === undefined ? { ...authority, hold_period_seconds: null } : authority;
}

/** How long an approval under `authority` holds its budget: the authority's own period, else the engine's. */
export function holdPeriodMs(ctx: EngineContext, authority: SpendingAuthority | null | undefined): number {
  const seconds = authority?.hold_period_seconds;
  return typeof seconds === 'number' ? seconds * 1000 : ctx.config.holdPeriodMs;
}

/** A page of an org's authorities; filter by status or agent. */
export async function listAuthorities(
  ctx: EngineContext,
  orgId: string,
  query?: unknown,
): Promise<Page<SpendingAuthority>> {
  const page = await ctx.store.listAuthorities(orgId, parseListQuery(query));
  return { items: page.items.map(withDefaults), next_cursor: page.next_cursor };
}

/**
 * Changes an authority's rules or pauses/resumes it; `version` increases by one. `expectVersion`, when
 * given, makes the change conditional (`conflict` if it moved). Usage already spent is kept.
 */
export async function updateAuthority(
  ctx: EngineContext,
  orgId: string,
  id: string,
  body: unknown,
  expectVersion?: number,
  actor?: Actor,
): Promise<SpendingAuthority> {
  const input = validateUpdate(cloneInput(body));
  const current = await getAuthority(ctx, orgId, id);
  if (current.status === 'revoked') throw new AppError('invalid_state', 'a revoked authority cannot change');
  if (expectVersion !== undefined && expectVersion !== current.version) {
    throw new AppError('conflict', 'the authority changed since it was read', {
      details: { version: current.version },
    });
  }
  const now = ctx.clock.now();
  const patch = {
    ...applyRules(input, current),
    ...(input.status ? { status: input.status } : {}),
    updated_at: isoTime(now),
  };
  const updated = await ctx.store.updateAuthority(
    orgId,
    id,
    current.version,
    patch,
    auditDraft(ctx, {
      orgId,
      type: 'authority.updated',
      subject: { kind: 'authority', id },
      agentId: current.agent_id,
      payload: { changes: input, version: current.version + 1, authority: entityPayload({ ...current, ...patch }) },
      actor,
      atMs: now,
    }),
  );
  if (!updated) throw new AppError('not_found', 'authority not found');
  return updated;
}

/** Revokes an authority for good; idempotent. */
export async function revokeAuthority(
  ctx: EngineContext,
  orgId: string,
  id: string,
  actor?: Actor,
): Promise<SpendingAuthority> {
  const current = await getAuthority(ctx, orgId, id);
  if (current.status === 'revoked') return current;
  const now = ctx.clock.now();
  const updated = await ctx.store.updateAuthority(
    orgId,
    id,
    current.version,
    { status: 'revoked', updated_at: isoTime(now) },
    auditDraft(ctx, {
      orgId,
      type: 'authority.revoked',
      subject: { kind: 'authority', id },
      agentId: current.agent_id,
      payload: { previous_status: current.status },
      actor,
      atMs: now,
    }),
  );
  return updated ?? current;
}

/** Usage of one window with its limits. */
export interface WindowUsageView {
  period: string;
  spent: number;
  count: number;
  limit: number | null;
  remaining: number | null;
  count_limit: number | null;
}

/** Current usage of an authority in every window, in its time zone. */
export async function getAuthorityUsage(
  ctx: EngineContext,
  orgId: string,
  id: string,
): Promise<{ authority_id: string; currency: string; time_zone: string; windows: Record<Window, WindowUsageView> }> {
  const authority = await getAuthority(ctx, orgId, id);
  const usage = await ctx.store.getUsage(orgId, id, periodsAt(ctx.clock.now(), authority.time_zone));
  const windows = {} as Record<Window, WindowUsageView>;
  for (const w of WINDOWS) {
    const limit = authority.limits[w];
    windows[w] = {
      ...usage[w],
      limit,
      remaining: limit === null ? null : Math.max(0, limit - usage[w].spent),
      count_limit: authority.velocity[w],
    };
  }
  return { authority_id: id, currency: authority.currency, time_zone: authority.time_zone, windows };
}
