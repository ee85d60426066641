import type { AuditDraft } from '../audit/index.js';
import { verifyJws } from '../crypto/index.js';
import { AppError, isAppError } from '../errors/index.js';
import {
  approvalLinkDecisionSchema,
  approvalListQuerySchema,
  approveApprovalSchema,
  compileValidator,
  createApprovalLinkSchema,
  declineApprovalSchema,
} from '../schemas/index.js';
import type { ListQuery, Page } from '../storage/index.js';
import type { Approval, ApprovalStatus, AuthorizationRecord, Merchant } from '../types.js';
import { isoTime } from '../util/clock.js';
import { ID_PREFIX, newId } from '../util/ids.js';
import { type Actor, auditDraft } from './audit-drafts.js';
import type { NormalizedAuthorizeRequest } from './authorize-request.js';
import { cloneInput } from './clone-input.js';
import type { EngineContext } from './context.js';

/** An approval as shown to the enterprise (and, through a link, to the person deciding it). */
export interface ApprovalView {
  id: string;
  org_id: string;
  status: ApprovalStatus;
  amount: number;
  approved_amount: number | null;
  currency: string;
  merchant: Merchant;
  agent_id: string | null;
  authority_id: string | null;
  binding_id: string | null;
  processor_id: string;
  authorization_id: string;
  reason_codes: string[];
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
  used_by: { processor_id: string; authorization_id: string } | null;
  used_at: string | null;
  created_at: string;
}

/** A signed one-time approval link. */
export interface ApprovalLink {
  approval_id: string;
  link_id: string;
  token: string;
  path: string;
  expires_at: string;
}

/** The path under which a link's token is opened (GET) and decided (POST). */
export const APPROVAL_LINK_PATH = '/v1/approval-links';

/** Default lifetime of an approval link. */
const DEFAULT_LINK_TTL_S = 3600;
/** Compare-and-set attempts on an approval before giving up with `conflict` (other writes to the record). */
const CAS_ATTEMPTS = 8;

const validateApprove = compileValidator<{ amount?: number; note?: string }>(approveApprovalSchema);
const validateDecline = compileValidator<{ note?: string }>(declineApprovalSchema);
const validateLink = compileValidator<{ ttl_seconds?: number }>(createApprovalLinkSchema);
const validateLinkDecision = compileValidator<{ decision: 'approve' | 'decline'; amount?: number; note?: string }>(
  approvalLinkDecisionSchema,
);
const validateList = compileValidator<ListQuery>(approvalListQuerySchema);

/** True when a pending or approved approval is past its expiry at `nowIso`. */
function lapsed(approval: Approval, nowIso: string): boolean {
  return (approval.status === 'pending' || approval.status === 'approved') && approval.expires_at <= nowIso;
}

/** The status of an approval at `nowIso`: a pending or approved one past `expires_at` reads as expired. */
export function approvalStatusAt(approval: Approval, nowIso: string): ApprovalStatus {
  return lapsed(approval, nowIso) ? 'expired' : approval.status;
}

/** The public view of the approval a record carries. */
export function approvalView(rec: AuthorizationRecord, nowMs: number): ApprovalView {
  const a = rec.approval as Approval;
  return {
    id: a.id,
    org_id: rec.org_id as string,
    status: approvalStatusAt(a, isoTime(nowMs)),
    amount: a.amount,
    approved_amount: a.approved_amount,
    currency: a.currency,
    merchant: a.merchant,
    agent_id: rec.agent_id,
    authority_id: rec.authority_id,
    binding_id: rec.decision?.binding_id ?? null,
    processor_id: rec.processor_id,
    authorization_id: rec.authorization_id,
    reason_codes: rec.decision?.reason_codes ?? [],
    expires_at: a.expires_at,
    decided_by: a.decided_by,
    decided_at: a.decided_at,
    used_by: a.used_by,
    used_at: a.used_at,
    created_at: a.created_at,
  };
}

/** The approval a STEP_UP decision opens. */
export function openApproval(ctx: EngineContext, req: NormalizedAuthorizeRequest, nowMs: number): Approval {
  return {
    id: newId(ID_PREFIX.approval, nowMs),
    status: 'pending',
    amount: req.amount,
    currency: req.currency,
    merchant: req.merchant,
    approved_amount: null,
    expires_at: isoTime(nowMs + ctx.config.approvalPeriodMs),
    decided_by: null,
    decided_at: null,
    link_id: null,
    used_by: null,
    used_at: null,
    created_at: isoTime(nowMs),
  };
}

type ApprovalEvent =
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.declined'
  | 'approval.expired'
  | 'approval.used';

/** The audit draft of a transition of the approval `approval` of `rec` (the record as it will be stored). */
export function approvalDraft(
  ctx: EngineContext,
  rec: AuthorizationRecord,
  approval: Approval,
  type: ApprovalEvent,
  nowMs: number,
  actor: Actor | undefined,
  extra: Record<string, unknown> = {},
): AuditDraft[] | undefined {
  if (rec.org_id === null) return undefined;
  return auditDraft(ctx, {
    orgId: rec.org_id,
    type,
    subject: { kind: 'approval', id: approval.id },
    agentId: rec.agent_id,
    payload: {
      approval_id: approval.id,
      status: approval.status,
      processor_id: rec.processor_id,
      authorization_id: rec.authorization_id,
      amount: approval.amount,
      approved_amount: approval.approved_amount,
      currency: approval.currency,
      merchant: approval.merchant,
      expires_at: approval.expires_at,
      ...extra,
    },
    actor,
    atMs: nowMs,
  });
}

function sameAuthorization(a: Approval, processorId: string, authorizationId: string): boolean {
  return a.used_by?.processor_id === processorId && a.used_by.authorization_id === authorizationId;
}

/**
 * What keeps the payment `req` (of `processorId`, resolved to `orgId` and `agentId`) from using the
 * approval it names; empty when it may. `rec` is the record the approval id resolved to (null when none).
 * An approval already used by this very authorization (an earlier attempt of it) is usable again.
 */
export function approvalReasons(
  nowIso: string,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  orgId: string,
  agentId: string,
  rec: AuthorizationRecord | null,
): string[] {
  const a = rec?.approval;
  if (!rec || !a || rec.org_id !== orgId || a.id !== req.approval_id) return ['approval_not_found'];
  const ours = a.status === 'used' && sameAuthorization(a, processorId, req.authorization_id);
  if (a.status === 'declined') return ['approval_declined'];
  if (a.status === 'used' && !ours) return ['approval_already_used'];
  if (a.status === 'expired' || (!ours && lapsed(a, nowIso))) return ['approval_expired'];
  if (a.status === 'pending') return ['approval_pending'];
  const reasons: string[] = [];
  if (rec.agent_id !== agentId) reasons.push('approval_agent_mismatch');
  for (const field of ['id', 'mcc', 'country'] as const) {
    const expected = a.merchant[field];
    if (expected !== undefined && req.merchant[field] !== expected) {
      reasons.push('approval_merchant_mismatch');
      break;
    }
  }
  if (req.currency !== a.currency || req.amount > (a.approved_amount ?? 0)) reasons.push('approval_amount_exceeded');
  return reasons;
}

/** What {@link useApproval} did: the reasons the approval cannot be used, or the approval as used. */
export type ApprovalUse =
  | { reasons: string[]; used?: undefined }
  | { reasons: []; steppedUp: AuthorizationRecord; used: Approval };

/**
 * Uses the approval `req.approval_id` for the authorization `req` of `processorId`: a compare-and-set of
 * the stepped-up record's version, so of two concurrent authorizations naming it exactly one uses it.
 * Returns the reasons it cannot be used, or the approval as used (now, or already by this authorization).
 * Its `approval.used` event is written with the decision that keeps it (see {@link approvalDraft}).
 */
export async function useApproval(
  ctx: EngineContext,
  processorId: string,
  req: NormalizedAuthorizeRequest,
  orgId: string,
  agentId: string,
  nowMs: number,
): Promise<ApprovalUse> {
  const approvalId = req.approval_id as string;
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const rec = await ctx.store.findApproval(approvalId);
    const reasons = approvalReasons(isoTime(nowMs), processorId, req, orgId, agentId, rec);
    if (reasons.length > 0) return { reasons };
    const steppedUp = rec as AuthorizationRecord;
    const current = steppedUp.approval as Approval;
    if (current.status === 'used') return { reasons: [], steppedUp, used: current };
    const used: Approval = {
      ...current,
      status: 'used',
      used_by: { processor_id: processorId, authorization_id: req.authorization_id },
      used_at: isoTime(nowMs),
    };
    if (await casApproval(ctx, steppedUp, used, undefined, nowMs, undefined)) {
      return { reasons: [], steppedUp, used };
    }
  }
  throw new AppError('conflict', 'the approval kept changing concurrently');
}

/**
 * Gives an approval back that `processorId`/`authorizationId` used and that its final decision does not
 * keep (an attempt abandoned or failed after using it). Replay-safe; only the use by that authorization
 * is undone.
 */
export async function releaseApprovalUse(
  ctx: EngineContext,
  approvalId: string,
  processorId: string,
  authorizationId: string,
): Promise<void> {
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const rec = await ctx.store.findApproval(approvalId);
    const a = rec?.approval;
    if (!rec || !a || a.status !== 'used' || !sameAuthorization(a, processorId, authorizationId)) return;
    const back: Approval = { ...a, status: 'approved', used_by: null, used_at: null };
    if (await casApproval(ctx, rec, back, undefined, ctx.clock.now(), undefined)) return;
  }
  throw new AppError('conflict', 'the approval kept changing concurrently');
}

/** One compare-and-set of the approval of `rec`; false when the record's version moved. */
async function casApproval(
  ctx: EngineContext,
  rec: AuthorizationRecord,
  next: Approval,
  event: ApprovalEvent | undefined,
  nowMs: number,
  actor: Actor | undefined,
  extra?: Record<string, unknown>,
): Promise<boolean> {
  const drafts = event ? approvalDraft(ctx, rec, next, event, nowMs, actor, extra) : undefined;
  try {
    const moved = await ctx.store.updateAuthorization(
      rec.processor_id,
      rec.authorization_id,
      { version: rec.version },
      { approval: next, updated_at: isoTime(nowMs) },
      drafts,
    );
    if (!moved) throw new AppError('not_found', 'approval not found');
    return true;
  } catch (err) {
    if (isAppError(err, 'conflict')) return false;
    throw err;
  }
}

async function requireApproval(ctx: EngineContext, orgId: string, id: string): Promise<AuthorizationRecord> {
  const rec = await ctx.store.findApproval(id);
  if (!rec?.approval || rec.org_id !== orgId) throw new AppError('not_found', 'approval not found');
  return rec;
}

/** The org's approval, or `not_found` (also for another org's). */
export async function getApproval(ctx: EngineContext, orgId: string, id: string): Promise<ApprovalView> {
  return approvalView(await requireApproval(ctx, orgId, id), ctx.clock.now());
}

/** A page of the org's approvals, newest first; filter by (stored) status or agent. */
export async function listApprovals(ctx: EngineContext, orgId: string, query?: unknown): Promise<Page<ApprovalView>> {
  const page = await ctx.store.listApprovals(orgId, validateList(cloneInput(query ?? {})));
  const now = ctx.clock.now();
  return { items: page.items.map((r) => approvalView(r, now)), next_cursor: page.next_cursor };
}

/**
 * Moves a pending approval to approved (for `amount`, default what was asked) or declined. Deciding it
 * again the same way returns it unchanged; anything else after a decision is `invalid_state`.
 * `linkId`, when deciding through a link, must be the approval's latest link.
 */
async function decide(
  ctx: EngineContext,
  orgId: string,
  id: string,
  to: 'approved' | 'declined',
  amount: number | undefined,
  note: string | undefined,
  actor: Actor,
  linkId?: string,
): Promise<ApprovalView> {
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const nowMs = ctx.clock.now();
    const rec = await requireApproval(ctx, orgId, id);
    const a = rec.approval as Approval;
    const status = approvalStatusAt(a, isoTime(nowMs));
    if (linkId !== undefined) checkLink(a, status, linkId);
    if (status !== 'pending') {
      const same = status === to && (to === 'declined' || amount === undefined || amount === a.approved_amount);
      if (same) return approvalView(rec, nowMs);
      throw new AppError('invalid_state', `cannot move a ${status} approval to ${to}`);
    }
    if (amount !== undefined && amount > a.amount) {
      throw new AppError('validation_failed', '/amount exceeds the amount asked for', {
        details: [{ path: '/amount', message: `must be at most ${a.amount}`, keyword: 'maximum' }],
      });
    }
    const next: Approval = {
      ...a,
      status: to,
      approved_amount: to === 'approved' ? (amount ?? a.amount) : null,
      decided_by: actor,
      decided_at: isoTime(nowMs),
      // A decision spends every link: none decides again.
      link_id: null,
    };
    const event = to === 'approved' ? 'approval.approved' : 'approval.declined';
    const extra = { note: note ?? null, ...(linkId !== undefined ? { link_id: linkId } : {}) };
    if (await casApproval(ctx, rec, next, event, nowMs, actor, extra)) {
      return approvalView({ ...rec, approval: next }, nowMs);
    }
  }
  throw new AppError('conflict', 'the approval changed concurrently; read it and retry');
}

/** The enterprise approves a pending approval, optionally for less than was asked. */
export function approveApproval(
  ctx: EngineContext,
  orgId: string,
  id: string,
  body: unknown = {},
  actor: Actor = 'system',
): Promise<ApprovalView> {
  const input = validateApprove(cloneInput(body ?? {}));
  return decide(ctx, orgId, id, 'approved', input.amount, input.note, actor);
}

/** The enterprise declines a pending approval. */
export function declineApproval(
  ctx: EngineContext,
  orgId: string,
  id: string,
  body: unknown = {},
  actor: Actor = 'system',
): Promise<ApprovalView> {
  const input = validateDecline(cloneInput(body ?? {}));
  return decide(ctx, orgId, id, 'declined', undefined, input.note, actor);
}

/**
 * Issues a signed one-time link to a pending approval: a compact JWS (the server's signing key) naming
 * the approval, the org, a fresh link id and an expiry (never past the approval's own). The link id is
 * stored on the approval, so only the latest link decides, and a decision spends it.
 */
export async function createApprovalLink(
  ctx: EngineContext,
  orgId: string,
  id: string,
  body: unknown = {},
  actor: Actor = 'system',
): Promise<ApprovalLink> {
  const input = validateLink(cloneInput(body ?? {}));
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const nowMs = ctx.clock.now();
    const rec = await requireApproval(ctx, orgId, id);
    const a = rec.approval as Approval;
    const status = approvalStatusAt(a, isoTime(nowMs));
    if (status !== 'pending') throw new AppError('invalid_state', `the approval is already ${status}`);
    const linkId = newId(ID_PREFIX.approvalLink, nowMs);
    const expMs = Math.min(nowMs + (input.ttl_seconds ?? DEFAULT_LINK_TTL_S) * 1000, Date.parse(a.expires_at));
    const next: Approval = { ...a, link_id: linkId };
    if (!(await casApproval(ctx, rec, next, undefined, nowMs, actor))) continue;
    const token = ctx.sign({
      typ: 'approval_link',
      approval_id: a.id,
      org_id: orgId,
      link_id: linkId,
      iat: Math.floor(nowMs / 1000),
      exp_ms: expMs,
    });
    return {
      approval_id: a.id,
      link_id: linkId,
      token,
      path: `${APPROVAL_LINK_PATH}/${token}`,
      expires_at: isoTime(expMs),
    };
  }
  throw new AppError('conflict', 'the approval changed concurrently; retry');
}

/** The claims of a link token that verified and has not expired, or `approval_link_invalid` / `_expired`. */
function openLink(ctx: EngineContext, token: string): { approvalId: string; orgId: string; linkId: string } {
  const v = verifyJws(token, ctx.jwks);
  const p = v.ok ? v.payload : null;
  if (
    p?.typ !== 'approval_link' ||
    typeof p.approval_id !== 'string' ||
    typeof p.org_id !== 'string' ||
    typeof p.link_id !== 'string' ||
    typeof p.exp_ms !== 'number'
  ) {
    throw new AppError('approval_link_invalid', 'the approval link is not valid');
  }
  if (ctx.clock.now() >= p.exp_ms) throw new AppError('approval_link_expired', 'the approval link has expired');
  return { approvalId: p.approval_id, orgId: p.org_id, linkId: p.link_id };
}

/**
 * A link decides only a pending approval whose latest link it is: once the approval is decided (or
 * expired) every link of it is spent (`approval_link_used`); a link replaced by a newer one is
 * `approval_link_invalid`.
 */
function checkLink(a: Approval, status: ApprovalStatus, linkId: string): void {
  if (status !== 'pending') throw new AppError('approval_link_used', `the approval is already ${status}`);
  if (a.link_id !== linkId) throw new AppError('approval_link_invalid', 'this link was replaced by a newer one');
}

/** What a link asks: the approval it names (GET of the link); any number of times while it works. */
export async function readApprovalLink(ctx: EngineContext, token: string): Promise<ApprovalView> {
  const link = openLink(ctx, token);
  const rec = await ctx.store.findApproval(link.approvalId);
  if (!rec?.approval || rec.org_id !== link.orgId) throw new AppError('approval_link_invalid', 'approval not found');
  const nowMs = ctx.clock.now();
  checkLink(rec.approval, approvalStatusAt(rec.approval, isoTime(nowMs)), link.linkId);
  return approvalView(rec, nowMs);
}

/** Approves or declines through a link (POST of the link): once; the decision spends the link. */
export async function decideApprovalLink(ctx: EngineContext, token: string, body: unknown): Promise<ApprovalView> {
  const input = validateLinkDecision(cloneInput(body ?? {}));
  const link = openLink(ctx, token);
  const rec = await ctx.store.findApproval(link.approvalId);
  if (!rec?.approval || rec.org_id !== link.orgId) throw new AppError('approval_link_invalid', 'approval not found');
  return decide(
    ctx,
    link.orgId,
    link.approvalId,
    input.decision === 'approve' ? 'approved' : 'declined',
    input.amount,
    input.note,
    `link:${link.linkId}`,
    link.linkId,
  );
}

/**
 * Marks pending and approved approvals past their expiry `expired` (audit and webhook `approval.expired`).
 * Safe to run on every server at once (compare-and-set per approval). Returns how many it marked.
 */
export async function expireApprovals(
  ctx: EngineContext,
  nowMs: number = ctx.clock.now(),
  batch = 100,
): Promise<number> {
  let marked = 0;
  for (;;) {
    const due = await ctx.store.listDueApprovals(isoTime(nowMs), batch);
    let progressed = false;
    for (const rec of due) {
      const a = rec.approval as Approval;
      const next: Approval = { ...a, status: 'expired', link_id: null };
      if (await casApproval(ctx, rec, next, 'approval.expired', nowMs, undefined, { previous_status: a.status })) {
        marked++;
        progressed = true;
      }
    }
    if (due.length < batch || !progressed) return marked;
  }
}
