import { verifyJws } from '../../crypto/index.js';
import type { Engine } from '../../engine/index.js';
import { AppError } from '../../errors/index.js';
import { compileValidator, issueAgentTokenSchema } from '../../schemas/index.js';
import type { CredentialStorage, TokenRevocation } from '../../storage/index.js';
import { type Clock, isoTime } from '../../util/clock.js';
import { newId } from '../../util/ids.js';

/** `typ` claim of an agent token, so decision proofs and mandates signed by the same key never pass for one. */
export const AGENT_TOKEN_TYP = 'agent_token';

/** The longest agent-token lifetime; an agent-wide revocation is kept this long. */
const MAX_TTL_SECONDS = 86_400;
/**
 * How long a skipped revocation seq is waited for (time elapsed on this server, never compared with another
 * clock): a concurrent writer may still be storing it. Longer than any store write can take.
 */
const DEFAULT_GAP_WAIT_MS = 120_000;
/**
 * Skipped seqs further than this below the newest seen are not waited for: more writes than that are never
 * in progress at once, so such a seq belongs to an entry already dropped (expired) or a write that failed.
 */
const GAP_WINDOW = 100;

/** Claims of an agent token. */
export interface AgentTokenClaims {
  typ: typeof AGENT_TOKEN_TYP;
  iss: 'allowance';
  jti: string;
  org_id: string;
  agent_id: string;
  scope: string[];
  target_service: string;
  intent: string | null;
  iat: number;
  exp: number;
}

/** Outcome of verifying an agent token. */
export type AgentTokenVerification =
  | { valid: true; claims: AgentTokenClaims }
  | {
      valid: false;
      reason: 'malformed' | 'invalid_signature' | 'expired' | 'revoked' | 'agent_revoked' | 'not_agent_token';
    };

interface IssueBody {
  agent_id: string;
  scope: string[];
  target_service: string;
  intent?: string | null;
  ttl_seconds: number;
}

const validateIssue = compileValidator<IssueBody>(issueAgentTokenSchema);

/** `org NUL id`: revocations are keyed by the org that owns the token or agent. */
function orgKey(orgId: string, id: string): string {
  return `${orgId}\u0000${id}`;
}

/** A monotonic millisecond clock of this process (elapsed time only). */
const monotonicMs = (): number => performance.now();

/**
 * Agent tokens: Ed25519 JWS signed with the engine's key and verified offline against its JWKS. Verification
 * reads no store: revocations live in memory, keyed by (org, jti) and (org, agent), updated at once on a
 * local revoke and pulled periodically from CredentialStorage by the store's revocation seq (every entry
 * numbered after the last one seen), so no server's clock decides what another server has seen.
 */
export class AgentTokens {
  /** org NUL jti -> exp (ms). */
  private readonly revokedJti = new Map<string, number>();
  /** org NUL agent id -> revoked at (ms): tokens issued at or before are dead. */
  private readonly revokedAgents = new Map<string, { at: number; exp: number }>();
  /** Every revocation numbered up to here has been applied (or its seq given up as unused). */
  private cursor = 0;
  /** Seqs above the cursor not seen yet while a higher one was: seq -> when first missed (monotonic ms). */
  private readonly gaps = new Map<number, number>();
  private refreshing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly storage: CredentialStorage,
    private readonly clock: Clock,
    private readonly options: { gapWaitMs?: number; monotonic?: () => number } = {},
  ) {}

  /** The revocation seq up to which this server has applied every revocation (for tests and metrics). */
  get revocationCursor(): number {
    return this.cursor;
  }

  /** Loads every live revocation, then refreshes every `intervalMs` (unref'd timer). */
  async start(intervalMs: number): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      void this.refresh().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Pulls revocations numbered after the cursor and forgets expired ones. A call made while a pull runs
   * queues a new pull after it (whether that one succeeds or fails), so awaiting `refresh()` means every
   * revocation stored before the call is applied.
   */
  refresh(): Promise<void> {
    const pull = () => this.pull();
    const run = (this.refreshing ?? Promise.resolve()).then(pull, pull);
    const tracked = run.finally(() => {
      if (this.refreshing === tracked) this.refreshing = null;
    });
    this.refreshing = tracked;
    return tracked;
  }

  private async pull(): Promise<void> {
    const entries = await this.storage.listRevokedTokens(this.cursor);
    const mono = (this.options.monotonic ?? monotonicMs)();
    let expected = this.cursor + 1;
    for (const r of entries) {
      const seq = r.seq as number;
      this.apply(r);
      this.gaps.delete(seq);
      for (let missing = Math.max(expected, seq - GAP_WINDOW); missing < seq; missing++) {
        if (!this.gaps.has(missing)) this.gaps.set(missing, mono);
      }
      if (seq >= expected) expected = seq + 1;
    }
    const newest = expected - 1;
    const wait = this.options.gapWaitMs ?? DEFAULT_GAP_WAIT_MS;
    for (const [seq, since] of this.gaps) {
      if (mono - since >= wait || seq <= newest - GAP_WINDOW) this.gaps.delete(seq);
    }
    let lowestGap = Number.POSITIVE_INFINITY;
    for (const seq of this.gaps.keys()) lowestGap = Math.min(lowestGap, seq);
    this.cursor = Math.max(this.cursor, Math.min(newest, lowestGap - 1));
    const now = this.clock.now();
    for (const [jti, exp] of this.revokedJti) if (exp <= now) this.revokedJti.delete(jti);
    for (const [agent, r] of this.revokedAgents) if (r.exp <= now) this.revokedAgents.delete(agent);
  }

  /** Issues a token for an active agent of the org. */
  async issue(
    orgId: string,
    body: unknown,
    actor?: string,
  ): Promise<AgentTokenClaims & { token: string; token_type: 'Bearer'; expires_in: number }> {
    const input = validateIssue(structuredClone(body));
    const agent = await this.engine.getAgent(orgId, input.agent_id);
    if (agent.status !== 'active') throw new AppError('invalid_state', `the agent is ${agent.status}`);
    const nowMs = this.clock.now();
    const iat = Math.floor(nowMs / 1000);
    const claims: AgentTokenClaims = {
      typ: AGENT_TOKEN_TYP,
      iss: 'allowance',
      jti: newId('jti', nowMs),
      org_id: orgId,
      agent_id: agent.id,
      scope: input.scope,
      target_service: input.target_service,
      intent: input.intent ?? null,
      iat,
      exp: iat + input.ttl_seconds,
    };
    const token = this.engine.sign(claims);
    // Recorded before the token is handed out (the claims only: the token itself is a bearer secret).
    // The issuance record ties the jti to its org for revocation by jti; the drafts are written with it.
    const drafts = this.engine.auditDraft({
      orgId,
      type: 'token.issued',
      subject: { kind: 'token', id: claims.jti },
      agentId: agent.id,
      payload: { ...claims },
      actor,
      atMs: nowMs,
    });
    await this.storage.insertIssuedToken(
      {
        jti: claims.jti,
        org_id: orgId,
        agent_id: agent.id,
        exp: isoTime(claims.exp * 1000),
        issued_at: isoTime(nowMs),
      },
      drafts,
    );
    return { token, token_type: 'Bearer', ...claims, expires_in: input.ttl_seconds };
  }

  /** Verifies signature, type, expiry and revocation; no store round trip. */
  verify(token: string): AgentTokenVerification {
    const v = verifyJws(token, this.engine.jwks());
    if (!v.ok) return { valid: false, reason: v.reason === 'malformed' ? 'malformed' : 'invalid_signature' };
    const c = v.payload as unknown as AgentTokenClaims;
    if (
      c.typ !== AGENT_TOKEN_TYP ||
      typeof c.jti !== 'string' ||
      typeof c.exp !== 'number' ||
      typeof c.iat !== 'number'
    ) {
      return { valid: false, reason: 'not_agent_token' };
    }
    const nowMs = this.clock.now();
    if (c.exp * 1000 <= nowMs) return { valid: false, reason: 'expired' };
    if (typeof c.org_id !== 'string' || typeof c.agent_id !== 'string')
      return { valid: false, reason: 'not_agent_token' };
    if (this.revokedJti.has(orgKey(c.org_id, c.jti))) return { valid: false, reason: 'revoked' };
    const agent = this.revokedAgents.get(orgKey(c.org_id, c.agent_id));
    if (agent && c.iat * 1000 <= agent.at) return { valid: false, reason: 'agent_revoked' };
    return { valid: true, claims: c };
  }

  /**
   * Revokes one token (given as the token itself, or as jti + agent_id) or every token of an agent
   * (agent_id alone). The agent must belong to the org, and a jti must have been issued by the org to that
   * agent (`not_found` otherwise: another org's jti is never revoked, nor disclosed).
   */
  async revoke(
    orgId: string,
    body: { token?: string; jti?: string; agent_id?: string },
    actor?: string,
  ): Promise<{ revoked: true; agent_id: string; jti: string | null }> {
    let agentId = body.agent_id;
    let jti: string | null = body.jti ?? null;
    let exp = Math.floor(this.clock.now() / 1000) + MAX_TTL_SECONDS;
    if (body.token !== undefined) {
      const v = verifyJws(body.token, this.engine.jwks());
      const c = v.ok ? (v.payload as unknown as AgentTokenClaims) : null;
      if (!c || c.typ !== AGENT_TOKEN_TYP || c.org_id !== orgId) throw new AppError('not_found', 'token not found');
      agentId = c.agent_id;
      jti = c.jti;
      exp = c.exp;
    }
    if (agentId === undefined) throw new AppError('validation_failed', 'agent_id or token is required');
    await this.engine.getAgent(orgId, agentId);
    if (body.token === undefined && jti !== null) {
      const issued = await this.storage.getIssuedToken(orgId, jti);
      if (!issued || issued.agent_id !== agentId) throw new AppError('not_found', 'token not found');
      exp = Math.floor(Date.parse(issued.exp) / 1000);
    }
    await this.record(
      {
        jti,
        agent_id: agentId,
        org_id: orgId,
        exp: isoTime(exp * 1000),
        revoked_at: isoTime(this.clock.now()),
      },
      actor,
      'requested',
    );
    return { revoked: true, agent_id: agentId, jti };
  }

  /** Kills every token of a revoked agent. */
  async revokeAgent(orgId: string, agentId: string, actor?: string): Promise<void> {
    const now = this.clock.now();
    await this.record(
      {
        jti: null,
        agent_id: agentId,
        org_id: orgId,
        exp: isoTime(now + MAX_TTL_SECONDS * 1000 + 1000),
        revoked_at: isoTime(now),
      },
      actor,
      'agent_revoked',
    );
  }

  private async record(r: TokenRevocation, actor: string | undefined, reason: string): Promise<void> {
    this.apply(r);
    const drafts = this.engine.auditDraft({
      orgId: r.org_id,
      type: 'token.revoked',
      subject: { kind: 'token', id: r.jti ?? `agent:${r.agent_id}` },
      agentId: r.agent_id,
      payload: { jti: r.jti, agent_id: r.agent_id, all_tokens_of_agent: r.jti === null, reason, exp: r.exp },
      actor,
      atMs: Date.parse(r.revoked_at),
    });
    await this.storage.insertRevokedToken(r, drafts);
  }

  private apply(r: TokenRevocation): void {
    const exp = Date.parse(r.exp);
    if (r.jti !== null) {
      this.revokedJti.set(orgKey(r.org_id, r.jti), exp);
      return;
    }
    const at = Date.parse(r.revoked_at);
    const key = orgKey(r.org_id, r.agent_id);
    const seen = this.revokedAgents.get(key);
    if (!seen || seen.at < at) this.revokedAgents.set(key, { at, exp: Math.max(exp, seen?.exp ?? 0) });
  }
}
