import { AppError } from '../errors/index.js';
import { compileValidator, createBindingSchema } from '../schemas/index.js';
import type { Page } from '../storage/index.js';
import type { CredentialBinding } from '../types.js';
import { isoTime } from '../util/clock.js';
import { sha256Hex } from '../util/hash.js';
import { ID_PREFIX, isTestId, liveIdOf, newId } from '../util/ids.js';
import { getAgent } from './agents.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import { getAuthority } from './authorities.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';
import { parseListQuery } from './list-query.js';
import { ensureTestProcessor } from './processors.js';

const validateCreate = compileValidator<{
  agent_id: string;
  authority_id: string;
  processor_id: string;
  credential: CredentialBinding['credential'];
}>(createBindingSchema);

/**
 * Binds a processor's credential to an agent and one of its authorities. A credential reference is bound
 * at most once per processor among non-revoked bindings (`conflict` otherwise).
 */
export async function createBinding(
  ctx: EngineContext,
  orgId: string,
  body: unknown,
  actor?: Actor,
): Promise<CredentialBinding> {
  const input = validateCreate(cloneInput(body));
  const agent = await getAgent(ctx, orgId, input.agent_id);
  if (agent.status === 'revoked') throw new AppError('invalid_state', 'the agent is revoked');
  const authority = await getAuthority(ctx, orgId, input.authority_id);
  if (authority.agent_id !== agent.id) {
    throw new AppError('validation_failed', '/authority_id belongs to another agent', {
      details: [{ path: '/authority_id', message: 'belongs to another agent', keyword: 'semantic' }],
    });
  }
  if (authority.status === 'revoked') throw new AppError('invalid_state', 'the authority is revoked');
  // A processor's test twin is made on first use, so an org can bind test cards before the processor has
  // test credentials.
  const processor = isTestId(input.processor_id)
    ? await ensureTestProcessor(ctx, liveIdOf(input.processor_id))
    : await ctx.store.getProcessor(input.processor_id);
  // A binding joins an org and a processor of the same mode: test data never reaches a live processor.
  if (!processor || isTestId(processor.id) !== isTestId(orgId)) throw new AppError('not_found', 'processor not found');
  const now = ctx.clock.now();
  const binding: CredentialBinding = {
    id: newId(ID_PREFIX.binding, now),
    org_id: orgId,
    agent_id: agent.id,
    authority_id: authority.id,
    processor_id: processor.id,
    credential: input.credential,
    status: 'active',
    version: 0,
    created_at: isoTime(now),
    updated_at: isoTime(now),
  };
  await ctx.store.insertBinding(
    binding,
    auditDraft(ctx, {
      orgId,
      type: 'binding.created',
      subject: { kind: 'binding', id: binding.id },
      agentId: binding.agent_id,
      payload: { binding: bindingPayload(binding) },
      actor,
      atMs: now,
    }),
  );
  return binding;
}

/**
 * A binding as an audit payload: the credential reference (a processor's card or token reference) is
 * replaced by its SHA-256, so the trail can match it without holding it.
 */
function bindingPayload(b: CredentialBinding): Record<string, unknown> {
  const { reference, ...credential } = b.credential;
  return {
    id: b.id,
    agent_id: b.agent_id,
    authority_id: b.authority_id,
    processor_id: b.processor_id,
    credential: { ...credential, reference_sha256: sha256Hex(reference) },
    status: b.status,
    created_at: b.created_at,
  };
}

/** A binding's credential as shown after creation: no reference, only hints to recognise it. */
export type MaskedCredential = Omit<CredentialBinding['credential'], 'reference'> & {
  reference_last4: string | null;
  reference_sha256_prefix: string;
};

/** How many leading hex digits of the reference's SHA-256 a read shows. */
const REFERENCE_HASH_PREFIX = 12;
/** References shorter than this show no last four characters (they would give most of it away). */
const MIN_REFERENCE_FOR_LAST4 = 8;

function referenceHints(reference: string): { reference_last4: string | null; reference_sha256_prefix: string } {
  return {
    reference_last4: reference.length >= MIN_REFERENCE_FOR_LAST4 ? reference.slice(-4) : null,
    reference_sha256_prefix: sha256Hex(reference).slice(0, REFERENCE_HASH_PREFIX),
  };
}

/**
 * A binding as the API shows it on every read: the credential reference (a processor's card or token
 * reference, a secret of sorts) replaced by its last four characters and a prefix of its SHA-256.
 */
export function maskedBinding(b: CredentialBinding): Omit<CredentialBinding, 'credential'> & {
  credential: MaskedCredential;
} {
  const { reference, ...credential } = b.credential;
  return { ...b, credential: { ...credential, ...referenceHints(reference) } };
}

/** A binding as returned once, on creation: the reference and the hints later reads show. */
export function createdBinding(b: CredentialBinding): CredentialBinding & { credential: MaskedCredential } {
  return { ...b, credential: { ...b.credential, ...referenceHints(b.credential.reference) } };
}

/** The binding, or `not_found`. */
export async function getBinding(ctx: EngineContext, orgId: string, id: string): Promise<CredentialBinding> {
  const binding = await ctx.store.getBinding(orgId, id);
  if (!binding) throw new AppError('not_found', 'binding not found');
  return binding;
}

/** A page of an org's bindings; filter by status or agent. */
export async function listBindings(
  ctx: EngineContext,
  orgId: string,
  query?: unknown,
): Promise<Page<CredentialBinding>> {
  return ctx.store.listBindings(orgId, parseListQuery(query));
}

const TRANSITIONS = {
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  revoke: { from: ['active', 'suspended'], to: 'revoked' },
} as const;

/**
 * Suspends, resumes or revokes a binding. Repeating a transition that already happened returns the
 * binding unchanged; any other move is `invalid_state`. Resuming needs an agent that is not revoked.
 */
export async function transitionBinding(
  ctx: EngineContext,
  orgId: string,
  id: string,
  action: keyof typeof TRANSITIONS,
  actor?: Actor,
): Promise<CredentialBinding> {
  const binding = await getBinding(ctx, orgId, id);
  const t = TRANSITIONS[action];
  if (binding.status === t.to) return binding;
  if (!(t.from as readonly string[]).includes(binding.status)) {
    throw new AppError('invalid_state', `cannot ${action} a ${binding.status} binding`);
  }
  if (action === 'resume') {
    const agent = await getAgent(ctx, orgId, binding.agent_id);
    if (agent.status === 'revoked') throw new AppError('invalid_state', 'the agent is revoked');
  }
  const now = ctx.clock.now();
  const updated = await ctx.store.updateBinding(
    orgId,
    id,
    binding.version,
    { status: t.to, updated_at: isoTime(now) },
    auditDraft(ctx, {
      orgId,
      type: action === 'suspend' ? 'binding.suspended' : action === 'resume' ? 'binding.resumed' : 'binding.revoked',
      subject: { kind: 'binding', id },
      agentId: binding.agent_id,
      payload: { previous_status: binding.status },
      actor,
      atMs: now,
    }),
  );
  if (!updated) throw new AppError('not_found', 'binding not found');
  return updated;
}
