import { AuditChainer } from '../audit/chainer.js';
import type { AuditChainReader } from '../audit/read.js';
import { createJwsSigner, generateSigningKey, type Jwks, type SigningKey, toJwks } from '../crypto/index.js';
import { AppError } from '../errors/index.js';
import { type LoadedPolicy, PolicyHolder } from '../policy/index.js';
import type { PolicyAnalysisStorage, QuotaStorage, StorageAdapter } from '../storage/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import { tracingActive } from '../util/tracing.js';
import * as agents from './agents.js';
import * as approvals from './approvals.js';
import { auditDraft, type DraftSpec } from './audit-drafts.js';
import * as authorities from './authorities.js';
import * as lifecycle from './authorization-lifecycle.js';
import { authorizeWithinBudget } from './authorize-budget.js';
import * as bindings from './bindings.js';
import { ClaimSightings } from './claim-sightings.js';
import {
  DEFAULT_ENGINE_CONFIG,
  type EngineConfig,
  type EngineContext,
  type EngineLogger,
  type EngineStats,
  type PolicyResolver,
} from './context.js';
import { guardAnalysisStorage, guardStore } from './guard-store.js';
import * as increments from './increments.js';
import * as intents from './intents.js';
import { PolicyReplays, type ReplayPolicies, type ReplayWindow } from './policy-replay.js';
import * as processors from './processors.js';
import {
  acquireQuota,
  DecisionCounter,
  getOrgUsage,
  guardQuotaStorage,
  releaseQuota,
  requireDecisionsLeft,
  setOrgPlan,
} from './quotas.js';
import { ResolutionHints } from './resolution-hints.js';
import { type ShadowHooks, ShadowRecorder } from './shadow-recorder.js';
import { simulateAuthorization } from './simulate.js';
import { StandIn } from './stand-in.js';
import { StandInSpool } from './stand-in-spool.js';
import { traceAuthorize, tracedSigner } from './tracing.js';

/** Options of {@link createEngine}. */
export interface EngineOptions {
  /** The storage adapter (see StorageAdapter); validated here, initialized by `engine.init()`. */
  store: StorageAdapter;
  /**
   * Policies to evaluate: one LoadedPolicy for every org, a PolicyHolder (activation swaps what every
   * later decision uses), or a PolicyResolver choosing per org.
   */
  policy: LoadedPolicy | PolicyHolder | PolicyResolver;
  /** Time source. Default: the system clock. */
  clock?: Clock;
  /**
   * Monotonic milliseconds of this process that judge claim leases (how long a pending claim was seen
   * unchanged); never compared with another server's. Default: `performance.now`.
   */
  elapsed?: () => number;
  /**
   * Signing keys: the first signs, all are published in the JWKS (keep the previous key listed while
   * rotating). Default: one fresh key, which suits tests only (proofs die with the process).
   */
  keys?: SigningKey[];
  config?: Partial<EngineConfig>;
  logger?: EngineLogger;
  /**
   * Audit trail. Every state change and decision writes an audit draft atomically with the change, and a
   * background chainer (started by `startBackground()`) links drafts into each org's hash chain.
   * `enabled: false` writes no drafts: for hosts that keep their own trail, and for benchmarks.
   */
  audit?: { enabled?: boolean; chainIntervalMs?: number };
  /**
   * Org plans and usage counters (agents, webhooks, decisions per month). Without it nothing is counted or
   * refused for quota. Decisions are counted from the audit chain, so they need `audit` enabled.
   */
  quotas?: QuotaStorage;
  /**
   * Policy analysis: where shadow comparisons and replay jobs are stored. Without it a shadow candidate is
   * not evaluated and replay is unavailable. `onDivergence` and `onCandidateError` feed metrics.
   */
  analysis?: {
    storage: PolicyAnalysisStorage;
    shadowFlushMs?: number;
    onDivergence?: (transition: string) => void;
    onCandidateError?: (revision: string) => void;
  };
}

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {} };

function toResolver(p: LoadedPolicy | PolicyHolder | PolicyResolver): PolicyResolver {
  if (typeof (p as PolicyResolver).forOrg === 'function') return p as PolicyResolver;
  if (p instanceof PolicyHolder) {
    return {
      forOrg: () => {
        const snap = p.snapshot();
        if (!snap) throw new AppError('policy_unavailable', 'no policy is active');
        return { active: snap.active, shadow: snap.shadow ?? null };
      },
    };
  }
  const fixed = { active: p as LoadedPolicy, shadow: null };
  return { forOrg: () => fixed };
}

type Tail<F> = F extends (ctx: EngineContext, ...rest: infer R) => infer T ? (...args: R) => T : never;

function bind<F extends (ctx: EngineContext, ...rest: never[]) => unknown>(ctx: EngineContext, fn: F): Tail<F> {
  return ((...args: unknown[]) => (fn as unknown as (...a: unknown[]) => unknown)(ctx, ...args)) as Tail<F>;
}

/**
 * Builds the embeddable engine: every use case of docs/api-processors.md and docs/api-enterprises.md as a method, no HTTP. Call `init()`
 * before use (it initializes the store) and `close()` when done.
 */
export function createEngine(options: EngineOptions) {
  const keys = options.keys?.length ? options.keys : [generateSigningKey()];
  const signingKey = keys[0] as SigningKey;
  const policy = options.policy;
  if (!policy) throw new TypeError('createEngine: `policy` is required');
  const policies = toResolver(policy);
  const ctx: EngineContext = {
    store: guardStore(options.store),
    clock: options.clock ?? systemClock,
    policies,
    signingKey,
    jwks: toJwks(keys),
    sign: tracedSigner(createJwsSigner(signingKey), signingKey.kid),
    config: { ...DEFAULT_ENGINE_CONFIG, ...options.config },
    logger: options.logger ?? silentLogger,
    auditEnabled: options.audit?.enabled !== false,
    stats: { orgPolicyErrors: 0, quotaOverages: 0 },
    claimSightings: new ClaimSightings(),
    resolutionHints: new ResolutionHints(),
    elapsed: options.elapsed ?? (() => performance.now()),
  };
  if (options.quotas) {
    ctx.quotas = guardQuotaStorage(options.quotas);
    ctx.decisionCounter = new DecisionCounter(ctx, ctx.quotas);
  }
  const decisionCounter = ctx.decisionCounter;
  const analysis = options.analysis
    ? { ...options.analysis, storage: guardAnalysisStorage(options.analysis.storage) }
    : undefined;
  if (analysis) {
    ctx.shadow = new ShadowRecorder({
      storage: analysis.storage,
      logger: ctx.logger,
      ...(analysis.shadowFlushMs !== undefined ? { flushIntervalMs: analysis.shadowFlushMs } : {}),
      ...(analysis.onDivergence ? { onDivergence: analysis.onDivergence } : {}),
      ...(analysis.onCandidateError ? { onCandidateError: analysis.onCandidateError } : {}),
    });
  }
  const replays = analysis ? new PolicyReplays(ctx, analysis.storage) : undefined;
  const needAnalysis = () => {
    if (!analysis || !replays) throw new AppError('policy_unavailable', 'policy analysis storage is not configured');
    return { storage: analysis.storage, replays };
  };
  if (!Number.isInteger(ctx.config.authorizeDeadlineMs) || ctx.config.authorizeDeadlineMs < 1) {
    throw new TypeError('createEngine: config.authorizeDeadlineMs must be a positive integer');
  }
  const standIn = ctx.config.standInSpoolDir
    ? new StandIn(
        ctx,
        new StandInSpool(ctx.config.standInSpoolDir, {
          onLost: (err) =>
            ctx.logger.error('stand_in_spool_lock_lost', { dir: ctx.config.standInSpoolDir, error: String(err) }),
          onRegained: () => ctx.logger.warn('stand_in_spool_lock_regained', { dir: ctx.config.standInSpoolDir }),
        }),
      )
    : null;
  /**
   * A change of an agent, authority or binding made through this engine drops what the stand-in cache
   * knew of it (the next authorize that reaches the store learns it again).
   */
  const forgetting =
    <A extends [string, string, ...unknown[]], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      fn(...args).finally(() => standIn?.forget(args[1]));
  const chainer = new AuditChainer({
    store: ctx.store,
    now: () => ctx.clock.now(),
    logger: ctx.logger,
    intervalMs: options.audit?.chainIntervalMs,
  });
  if (decisionCounter) chainer.onLinked((orgId) => decisionCounter.notify(orgId));
  return {
    context: ctx,
    /** Opens the stand-in spool (when configured; what it holds is drained later) and initializes the store. */
    init: async () => {
      await standIn?.spool.open();
      await ctx.store.init();
    },
    /**
     * Starts background work: linking audit drafts into the chain, draining spooled stand-in decisions,
     * writing shadow counters.
     */
    startBackground: () => {
      chainer.start();
      standIn?.start();
      ctx.shadow?.start();
    },
    /** Stops background work (writing what shadow counted, finishing replays), closes the spool and the store. */
    close: async () => {
      await standIn?.stop();
      await ctx.shadow?.stop();
      await replays?.drain();
      await chainer.stop();
      await decisionCounter?.settled();
      await standIn?.spool.close();
      await ctx.store.close();
    },
    /**
     * Stand-in processing (null without `config.standInSpoolDir`): `drain()` writes every spooled stand-in
     * decision into the store now (tests, operators); `pending()` counts those not yet drained.
     */
    standIn: standIn
      ? { drain: () => standIn.drain(), pending: () => standIn.spool.size, spoolDir: standIn.spool.dir }
      : null,
    /**
     * The audit trail: the chainer (`drain()` links everything written so far: tests, shutdown) and the
     * linked chain as the engine's store holds it (read by list, export and verify, and the webhook dispatcher).
     */
    audit: { chainer, chain: ctx.store as AuditChainReader },
    /**
     * An audit draft stamped by the engine (fresh id, engine clock), to write with a change made outside the
     * engine (credentials, agent tokens, webhooks, policies); undefined when audit is off.
     */
    auditDraft: (spec: DraftSpec) => auditDraft(ctx, spec),
    /** Signs a payload with the engine's signing key (compact EdDSA JWS, `kid` in the JWKS). */
    sign: (payload: object): string => ctx.sign(payload),
    /** The engine's counters (read by /metrics). */
    stats: ctx.stats as Readonly<EngineStats>,
    /** The policies in force for an org now: base, promoted revision and shadow. */
    policiesFor: (orgId: string) => ctx.policies.forOrg(orgId),
    ping: () => ctx.store.ping(),
    /**
     * Plans and usage (need `options.quotas`): `getUsage` counts what the chain holds first; `setPlan` is the
     * operator's; `countDecisions` counts an org's linked decisions now and `settled` awaits background counts.
     */
    quotas: {
      enabled: ctx.quotas !== undefined,
      getUsage: bind(ctx, getOrgUsage),
      setPlan: bind(ctx, setOrgPlan),
      /** Takes one of a counted resource or throws 402 `quota_exceeded` (no-op without quota storage). */
      acquire: bind(ctx, acquireQuota),
      /** Gives one back (a failure is logged: the count stays high, never low). */
      release: bind(ctx, releaseQuota),
      countDecisions: async (orgId: string) => {
        await decisionCounter?.countNow(orgId);
      },
      settled: async () => {
        await decisionCounter?.settled();
      },
    },
    /** The JWKS that verifies decision proofs and mandates. */
    jwks: (): Jwks => ctx.jwks,

    /**
     * Shadow and replay (need `options.analysis`). `flushShadow()` evaluates every queued shadow comparison
     * and writes the counters; `shadowStats` reads them; `replay` re-decides stored authorizations of a
     * window with base + candidate (at once, or as a job for a large window); `whenReplayDone` awaits a job.
     */
    policyAnalysis: {
      flushShadow: async () => {
        await ctx.shadow?.flush();
      },
      shadowStats: (orgId: string, revision: string) => needAnalysis().storage.getShadowStats(orgId, revision),
      replay: (orgId: string, policies: ReplayPolicies, window: ReplayWindow, actor?: string) =>
        needAnalysis().replays.start(orgId, policies, window, actor),
      getReplay: (orgId: string, id: string) => needAnalysis().replays.get(orgId, id),
      whenReplayDone: (id: string) => needAnalysis().replays.whenDone(id),
      /** Observes shadow divergences and candidate failures (no-op without analysis storage). */
      listen: (hooks: ShadowHooks) => ctx.shadow?.listen(hooks),
      /** True when shadow and replay have storage. */
      enabled: analysis !== undefined,
    },

    createOrg: bind(ctx, processors.createOrg),
    createProcessor: bind(ctx, processors.createProcessor),
    getOrg: bind(ctx, processors.getOrg),
    getProcessor: bind(ctx, processors.getProcessor),
    ensureTestOrg: bind(ctx, processors.ensureTestOrg),
    ensureTestProcessor: bind(ctx, processors.ensureTestProcessor),

    createAgent: bind(ctx, agents.createAgent),
    getAgent: bind(ctx, agents.getAgent),
    listAgents: bind(ctx, agents.listAgents),
    updateAgent: forgetting(bind(ctx, agents.updateAgent)),
    revokeAgent: forgetting(bind(ctx, agents.revokeAgent)),

    createAuthority: bind(ctx, authorities.createAuthority),
    getAuthority: bind(ctx, authorities.getAuthority),
    listAuthorities: bind(ctx, authorities.listAuthorities),
    updateAuthority: forgetting(bind(ctx, authorities.updateAuthority)),
    revokeAuthority: forgetting(bind(ctx, authorities.revokeAuthority)),
    getAuthorityUsage: bind(ctx, authorities.getAuthorityUsage),

    createBinding: bind(ctx, bindings.createBinding),
    getBinding: bind(ctx, bindings.getBinding),
    listBindings: bind(ctx, bindings.listBindings),
    suspendBinding: forgetting((orgId: string, id: string, actor?: string) =>
      bindings.transitionBinding(ctx, orgId, id, 'suspend', actor),
    ),
    resumeBinding: forgetting((orgId: string, id: string, actor?: string) =>
      bindings.transitionBinding(ctx, orgId, id, 'resume', actor),
    ),
    revokeBinding: forgetting((orgId: string, id: string, actor?: string) =>
      bindings.transitionBinding(ctx, orgId, id, 'revoke', actor),
    ),

    validateIntent: bind(ctx, intents.validateIntent),
    simulateIntent: async (...args: Parameters<Tail<typeof intents.simulateIntent>>) => {
      await requireDecisionsLeft(ctx, args[0]);
      return intents.simulateIntent(ctx, ...args);
    },
    getIntent: bind(ctx, intents.getIntent),
    listIntents: bind(ctx, intents.listIntents),
    approveIntent: bind(ctx, intents.approveIntent),
    cancelIntent: bind(ctx, intents.cancelIntent),

    /**
     * `options.receivedAt` (`performance.now()` milliseconds): when the caller received the request, so the
     * time spent before the engine (authentication, rate limits) counts against the deadline too.
     */
    authorize: (processorId: string, body: unknown, actor?: string, options?: { receivedAt?: number }) =>
      // Untraced (the common case): no closure made for the tracer.
      tracingActive()
        ? traceAuthorize(processorId, body, () =>
            authorizeWithinBudget(ctx, standIn, processorId, body, actor, options?.receivedAt),
          )
        : authorizeWithinBudget(ctx, standIn, processorId, body, actor, options?.receivedAt),
    /** A simulation is an optional decision: past the org's monthly decisions it is 402 `quota_exceeded`. */
    simulate: async (...args: Parameters<Tail<typeof simulateAuthorization>>) => {
      await requireDecisionsLeft(ctx, args[0]);
      return simulateAuthorization(ctx, ...args);
    },
    capture: bind(ctx, lifecycle.capture),
    increment: bind(ctx, increments.increment),
    reverse: bind(ctx, lifecycle.reverse),
    settleCapture: bind(ctx, lifecycle.settleCapture),
    settleRefund: bind(ctx, lifecycle.settleRefund),
    closeAuthorization: bind(ctx, lifecycle.closeAuthorization),
    getAuthorization: bind(ctx, lifecycle.getAuthorization),
    getOrgAuthorization: bind(ctx, lifecycle.getOrgAuthorization),
    listAuthorizations: bind(ctx, lifecycle.listAuthorizations),
    listProcessorAuthorizations: bind(ctx, lifecycle.listProcessorAuthorizations),
    expireHolds: bind(ctx, lifecycle.expireHolds),

    getApproval: bind(ctx, approvals.getApproval),
    listApprovals: bind(ctx, approvals.listApprovals),
    approveApproval: bind(ctx, approvals.approveApproval),
    declineApproval: bind(ctx, approvals.declineApproval),
    createApprovalLink: bind(ctx, approvals.createApprovalLink),
    readApprovalLink: bind(ctx, approvals.readApprovalLink),
    decideApprovalLink: bind(ctx, approvals.decideApprovalLink),
    /** Marks approvals past their expiry expired (`approval.expired`); run on a timer like expireHolds. */
    expireApprovals: bind(ctx, approvals.expireApprovals),
  };
}

/** The engine returned by {@link createEngine}. */
export type Engine = ReturnType<typeof createEngine>;
