import type { Socket } from 'node:net';
import type Router from '@koa/router';
import Koa from 'koa';
import { BridgeService } from '../bridges/index.js';
import { createSecretBox } from '../crypto/index.js';
import { createTxtResolver, DomainService, type TxtResolver } from '../domains/index.js';
import type { Engine } from '../engine/index.js';
import type { PolicyRegistry } from '../policy/index.js';
import type {
  BridgeStorage,
  CredentialStorage,
  DomainStorage,
  PolicyStorage,
  WebhookStorage,
} from '../storage/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import { createWebhookService, type HostResolver, type WebhookConfig } from '../webhooks/index.js';
import { AgentTokens } from './auth/agent-tokens.js';
import { CredentialService } from './auth/credential-service.js';
import { SessionTokens } from './auth/session-tokens.js';
import { apiExplorer } from './docs.js';
import { type Logger, silentLogger } from './logger.js';
import { type AppMetrics, Metrics } from './metrics.js';
import { authenticate } from './middleware/authenticate.js';
import { addressLimitKey, clientAddress, type TrustedProxies } from './middleware/client-address.js';
import { type CredentialLimiter, localCredentialLimiter, RateLimiter } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { buildOpenApi } from './openapi.js';
import { PolicyCandidates } from './policy-candidates.js';
import { PolicyService } from './policy-service.js';
import { type Audience, audienceRouter, dispatchRouters, type RouteHooks, type RouteSpec } from './route.js';
import { agentRoutes } from './routes/agents.js';
import { approvalLinkRoutes, approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { authorityRoutes } from './routes/authorities.js';
import { authorizationListRoutes, authorizationRoutes } from './routes/authorizations.js';
import { bindingRoutes } from './routes/bindings.js';
import { bridgeCallRoutes, bridgeRoutes } from './routes/bridges.js';
import { credentialRevokeRoutes, credentialRotateRoutes, credentialRoutes } from './routes/credentials.js';
import { domainRoutes } from './routes/domains.js';
import { intentRoutes } from './routes/intents.js';
import { operatorRoutes } from './routes/operator.js';
import { basePolicyRoutes, policyRoutes } from './routes/policies.js';
import { policyAnalysisRoutes } from './routes/policy-analysis.js';
import { publicRoutes } from './routes/public.js';
import { quotaOperatorRoutes, usageRoutes } from './routes/quotas.js';
import { rulesRoutes } from './routes/rules.js';
import { simulateRoutes } from './routes/simulate.js';
import { tokenRoutes, tokenVerifyRoutes } from './routes/tokens.js';
import { webhookRoutes } from './routes/webhooks.js';
import { RulesService } from './rules-service.js';
import type { Services } from './services.js';
import { traceAuthentication } from './tracing.js';
import type { AppContext } from './types.js';

/** What {@link createApp} needs. */
export interface AppDeps {
  /** An engine built by createEngine; its store is the one the app's data lives in. */
  engine: Engine;
  /** Where API credentials and agent-token revocations are kept. */
  credentials: CredentialStorage;
  /** 32 bytes: seals credential secrets and derives the session-token key (same on every server). */
  masterKey: Buffer;
  /** Master keys rotated out: secrets they sealed still open; nothing new is sealed with them. */
  previousMasterKeys?: Buffer[];
  /** The operator credential, held in memory only. */
  operator?: { keyId: string; secret: string } | null;
  logger?: Logger;
  /** What /metrics serves and the request and authorize paths record into. Default: a new {@link Metrics}. */
  metrics?: AppMetrics;
  /** Time of authentication, rate limits and agent tokens. Default: the system clock. */
  clock?: Clock;
  /** Per-credential token bucket. Default 200/s sustained, 400 burst. */
  rateLimit?: { perSecond: number; burst: number };
  /**
   * The per-credential limit shared by servers (e.g. `createMongoCredentialLimiter` on MongoDB). Default: the
   * `rateLimit` token bucket of this process.
   */
  credentialLimiter?: CredentialLimiter;
  /**
   * Per-client-address token bucket, taken before authentication on every authenticated route and on the
   * public verification and token-exchange routes (a verify-batch costs one per token). Default 1000/s, 2000.
   * `null`: no per-address limit (an embedding whose gateway limits per address already).
   */
  addressRateLimit?: { perSecond: number; burst: number } | null;
  /** Proxies whose X-Forwarded-For names the client address. Default none: the socket's address. */
  trustedProxies?: TrustedProxies;
  /** How long a key id unknown to the store is answered without reading it again, in ms. Default 2000. */
  unknownKeyCacheMs?: number;
  /**
   * Per client address: store reads that found no credential (an unknown key id; on the exchange also a wrong
   * secret). Once the bucket is empty, reads of key ids this server does not hold are refused with 429 until
   * it refills; credentials this server holds are not affected. Default 10/s, 20. `null`: off.
   */
  unknownKeyRateLimit?: { perSecond: number; burst: number } | null;
  /** Tolerated client clock difference for exp/iat, in seconds. Default 60. */
  clockSkewSeconds?: number;
  /** How often revocations made by other servers are read. Default 5 s. */
  revocationRefreshMs?: number;
  /**
   * Routes mounted beside the API's own, with the same auth, rate limits and body handling, and left out
   * of the OpenAPI document (bench/ mounts its baseline route so). Default none.
   */
  extraRoutes?: readonly RouteSpec[];
  /** Reported in /openapi.json. */
  version?: string;
  /**
   * Where webhook endpoints and their deliveries (the outbox) are kept, e.g. MemoryWebhookStorage or
   * MongoWebhookStorage on the engine's backend. Without it the webhook routes answer 503.
   */
  webhooks?: WebhookStorage;
  /** Webhook delivery settings (ALLOWANCE_WEBHOOK_*); defaults: DEFAULT_WEBHOOK_CONFIG. */
  webhookConfig?: Partial<WebhookConfig>;
  /** Host resolution of the webhook target check at registration. Default: the system resolver (tests replace it). */
  webhookResolve?: HostResolver;
  /**
   * Per-org policies: the storage of bundles and states on the engine's backend and the registry the engine
   * resolves policies with (built on the same storage). Without them the policy routes answer 503.
   */
  policies?: {
    storage: PolicyStorage;
    registry: PolicyRegistry;
    /** Largest bundle upload (ALLOWANCE_POLICY_MAX_BYTES). Default 10 MiB. */
    maxBytes?: number;
    /** SHA-256 of the base bundle file the server started with. */
    fileBaseSha256?: string | null;
    /** Time limit of the checks of one upload. Default 10 s. */
    checkTimeoutMs?: number;
  };
  /** Card-processor bridges and their sealed signing secrets. Without it the bridge routes answer 503. */
  bridges?: BridgeStorage;
  /**
   * Org domains and settings, on the engine's backend (its audit drafts go to the same outbox). Without it the
   * domain routes answer 503 and webhooks are not limited to verified domains.
   */
  domains?: DomainStorage;
  /**
   * How domain verification looks TXT records up: nameserver addresses (ALLOWANCE_DNS_SERVERS; default the
   * system's) or a resolver of its own (tests).
   */
  dns?: { servers?: readonly string[]; timeoutMs?: number } | { resolveTxt: TxtResolver };
}

/** The Koa app with its services, and what to stop on shutdown. */
export type AllowanceApp = Koa & {
  services: Services;
  routes: RouteSpec[];
  /** Every router of the app with its wall and routes (the API's own, then `extraRoutes`). */
  audiences: Audience[];
  /** The OpenAPI 3.1 document served at /openapi.json (also the source of the typed client's types). */
  openapi: Record<string, unknown>;
  /** Loads revocations and starts their refresh; call before serving. */
  start(): Promise<void>;
  /** Stops background timers and waits for webhook attempts and last_used_at writes in progress. */
  stop(): Promise<void>;
};

/** The app's own metrics registry, reading the engine's counters at scrape time. */
function appMetrics(engine: Engine): Metrics {
  const metrics = new Metrics();
  metrics.orgPolicyErrors = () => engine.stats.orgPolicyErrors;
  metrics.quotaOverages = () => engine.stats.quotaOverages;
  metrics.standInPending = () => engine.standIn?.pending() ?? null;
  return metrics;
}

/** Builds the HTTP API (docs/api-processors.md, docs/api-enterprises.md) around an engine (no listen). */
export function createApp(deps: AppDeps): AllowanceApp {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const metrics = deps.metrics ?? appMetrics(deps.engine);
  const dns = deps.dns ?? {};
  const domains = new DomainService({
    storage: deps.domains ?? null,
    resolveTxt:
      'resolveTxt' in dns
        ? dns.resolveTxt
        : createTxtResolver({
            ...(dns.servers ? { servers: dns.servers } : {}),
            ...(dns.timeoutMs !== undefined ? { timeoutMs: dns.timeoutMs } : {}),
          }),
    clock,
    drafts: (spec) =>
      deps.engine.auditDraft({
        orgId: spec.orgId,
        type: spec.type,
        subject: spec.subject,
        agentId: null,
        payload: spec.payload,
        actor: spec.actor,
      }),
  });
  const rate = deps.rateLimit ?? { perSecond: 200, burst: 400 };
  const addressRate =
    deps.addressRateLimit === null ? null : (deps.addressRateLimit ?? { perSecond: 1000, burst: 2000 });
  const trustedProxies = deps.trustedProxies ?? [];
  const unknownRate =
    deps.unknownKeyRateLimit === null ? null : (deps.unknownKeyRateLimit ?? { perSecond: 10, burst: 20 });
  const socketKeys = new WeakMap<Socket, string>();
  /** The limit key of the request's client address (per connection when no proxy is trusted). */
  const addressKeyOf = (ctx: AppContext): string => {
    const socket = ctx.req.socket;
    let key = trustedProxies.length === 0 ? socketKeys.get(socket) : undefined;
    if (key === undefined) {
      key = addressLimitKey(clientAddress(socket.remoteAddress, ctx.get('x-forwarded-for'), trustedProxies));
      if (trustedProxies.length === 0) socketKeys.set(socket, key);
    }
    return key;
  };
  const unknownKeyLimiter =
    unknownRate && new RateLimiter(unknownRate.perSecond, unknownRate.burst, clock, 'client_address');
  const credentials = new CredentialService(
    deps.credentials,
    createSecretBox(deps.masterKey, deps.previousMasterKeys),
    clock,
    deps.operator ?? null,
    (spec) => deps.engine.auditDraft(spec),
    deps.unknownKeyCacheMs,
  );
  const rateLimiter = new RateLimiter(rate.perSecond, rate.burst, clock);
  const sessions = new SessionTokens(deps.masterKey);
  const policyService = new PolicyService({
    engine: deps.engine,
    storage: deps.policies?.storage ?? null,
    registry: deps.policies?.registry ?? null,
    clock,
    ...(deps.policies?.maxBytes !== undefined ? { maxBytes: deps.policies.maxBytes } : {}),
    fileBaseSha256: deps.policies?.fileBaseSha256 ?? null,
    ...(deps.policies?.checkTimeoutMs !== undefined ? { checkTimeoutMs: deps.policies.checkTimeoutMs } : {}),
  });
  const services: Services = {
    engine: deps.engine,
    credentials,
    sessions,
    agentTokens: new AgentTokens(deps.engine, deps.credentials, clock),
    metrics,
    rateLimiter,
    credentialLimiter: deps.credentialLimiter ?? localCredentialLimiter(rateLimiter),
    addressLimiter: addressRate && new RateLimiter(addressRate.perSecond, addressRate.burst, clock, 'client_address'),
    unknownKeyLimiter,
    readGuard(ctx) {
      if (!unknownKeyLimiter) return undefined;
      const key = addressKeyOf(ctx);
      return { beforeRead: () => unknownKeyLimiter.check(key), onMiss: () => unknownKeyLimiter.drain(key) };
    },
    clock,
    webhooks: createWebhookService({
      engine: deps.engine,
      storage: deps.webhooks ?? null,
      box: createSecretBox(deps.masterKey, deps.previousMasterKeys),
      clock,
      logger,
      config: deps.webhookConfig,
      ...(deps.webhookResolve ? { resolve: deps.webhookResolve } : {}),
      ...(deps.domains ? { targetRefusal: (orgId: string, url: URL) => domains.webhookTargetRefusal(orgId, url) } : {}),
    }),
    policies: policyService,
    rules: new RulesService(deps.engine, policyService, deps.policies?.storage ?? null),
    bridges: new BridgeService(
      deps.engine,
      deps.bridges ?? null,
      createSecretBox(deps.masterKey, deps.previousMasterKeys),
      clock,
    ),
    domains,
    ...(deps.policies && deps.engine.policyAnalysis.enabled
      ? { policyCandidates: new PolicyCandidates(deps.engine, deps.policies.storage) }
      : {}),
  };
  deps.engine.policyAnalysis.listen({
    onDivergence: (transition) => metrics.shadowDivergence(transition),
    onCandidateError: () => metrics.shadowError(),
  });

  // The role walls, in one place: each list is one router whose wall (authentication and role check) is
  // applied once to all its routes. A route goes in the list of the audience its `roles` name; mounting it
  // behind another wall throws (see audienceRouter). docs/architecture.md: how to add a route.
  const audiences: Audience[] = [
    {
      name: 'public',
      wall: 'public',
      routes: [
        ...publicRoutes(services, () => openapi),
        ...authRoutes(services),
        ...tokenVerifyRoutes(services),
        ...bridgeCallRoutes(services),
        ...approvalLinkRoutes(services),
      ],
    },
    {
      name: 'operator',
      wall: ['operator'],
      routes: [...operatorRoutes(services), ...basePolicyRoutes(services), ...quotaOperatorRoutes(services)],
    },
    {
      name: 'enterprise',
      wall: ['enterprise'],
      routes: [
        ...credentialRoutes(services),
        ...agentRoutes(services),
        ...tokenRoutes(services),
        ...authorityRoutes(services),
        ...bindingRoutes(services),
        ...intentRoutes(services),
        ...simulateRoutes(services),
        ...auditRoutes(services),
        ...webhookRoutes(services),
        ...policyRoutes(services),
        ...rulesRoutes(services),
        ...policyAnalysisRoutes(services),
        ...bridgeRoutes(services),
        ...usageRoutes(services),
        ...domainRoutes(services),
        ...approvalRoutes(services),
      ],
    },
    { name: 'processor', wall: ['processor'], routes: authorizationRoutes(services) },
    // Routes two audiences share, each caller seeing only what its role owns.
    { name: 'enterprise or operator', wall: ['enterprise', 'operator'], routes: credentialRevokeRoutes(services) },
    { name: 'enterprise or processor', wall: ['enterprise', 'processor'], routes: authorizationListRoutes(services) },
    {
      name: 'any credential',
      wall: ['enterprise', 'processor', 'operator'],
      routes: credentialRotateRoutes(services),
    },
  ];
  const routes: RouteSpec[] = audiences.flatMap((a) => a.routes);
  const openapi = buildOpenApi(routes, deps.version ?? '0.1.0');
  // Routes an embedding adds (bench/), behind the wall their roles name, after the API's own.
  const extra = new Map<string, Audience>();
  for (const spec of deps.extraRoutes ?? []) {
    const key = JSON.stringify(spec.roles);
    const audience = extra.get(key) ?? { name: `extra ${key}`, wall: spec.roles, routes: [] };
    extra.set(key, { ...audience, routes: [...audience.routes, spec] });
  }
  const mounted = [...audiences, ...extra.values()];

  const hooks: RouteHooks = {
    authenticate: traceAuthentication(
      authenticate({
        credentials,
        sessions,
        clock,
        clockSkewSeconds: deps.clockSkewSeconds,
        readGuard: (ctx) => services.readGuard(ctx),
      }),
    ),
    rateLimit: (key: string) => services.credentialLimiter.consume(key),
    limitAddress: (ctx: AppContext, cost: number) => services.addressLimiter?.take(addressKeyOf(ctx), cost),
  };
  const routers = mounted.map((audience) => audienceRouter(audience, hooks));

  const app = new Koa({ proxy: false }) as AllowanceApp;
  app.silent = true;
  app.use(requestContext(logger, metrics) as Koa.Middleware);
  app.use(apiExplorer() as Koa.Middleware);
  app.use(dispatchRouters(routers) as Koa.Middleware);
  // One 405/501 answer for all routers: koa-router collects the path matches of every router on ctx.matched.
  app.use((routers[0] as Router).allowedMethods());

  let revocationsStarted = false;
  app.services = services;
  app.routes = routes;
  app.audiences = mounted;
  app.openapi = openapi;
  app.start = async () => {
    if (revocationsStarted) return;
    revocationsStarted = true;
    await services.agentTokens.start(deps.revocationRefreshMs ?? 5_000);
    deps.engine.startBackground();
    await services.domains.init();
    await services.webhooks.start();
  };
  app.stop = async () => {
    services.agentTokens.stop();
    void deps.engine.audit.chainer.stop();
    await services.webhooks.stop();
    await services.bridges.settled();
    // last_used_at writes still running get a moment to land; a store that never answers does not hold the stop.
    await credentials.settled(2_000);
  };
  return app;
}
