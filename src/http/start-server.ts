import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { isAbsolute, resolve } from 'node:path';
import { loadSigningKeys, type ServerConfig } from '../config/index.js';
import { masterKeyId } from '../crypto/index.js';
import { createEngine } from '../engine/index.js';
import { loadPolicy, PolicyRegistry } from '../policy/index.js';
import type {
  BridgeStorage,
  CredentialStorage,
  DomainStorage,
  PolicyAnalysisStorage,
  PolicyStorage,
  QuotaStorage,
  StorageAdapter,
  WebhookStorage,
} from '../storage/index.js';
import { systemClock } from '../util/clock.js';
import { projectRoot } from '../util/project-root.js';
import { handleClientErrors } from './client-error.js';
import { type AllowanceApp, createApp } from './create-app.js';
import { type GracefulServer, serveGracefully } from './graceful.js';
import type { Logger } from './logger.js';
import { parseTrustedProxies } from './middleware/client-address.js';
import { localCredentialLimiter, RateLimiter } from './middleware/rate-limit.js';
import { mongoCredentialLimiter } from './middleware/shared-rate-limit.js';

/** The stores a server runs on. */
export interface StoreSet {
  store: StorageAdapter;
  credentials: CredentialStorage;
  /** Webhook endpoints and deliveries; without it the webhook routes answer 503. */
  webhooks?: WebhookStorage;
  /** Where per-credential rate-limit counters are shared by servers (MongoDB); without it each server counts. */
  sharedLimits?: { mongo: { client: unknown; dbName: string } };
  /** Org policy bundles and states; without it the policy routes answer 503. */
  policies?: PolicyStorage;
  /** Shadow counters and replay jobs; without it shadow candidates are not evaluated and replay answers 503. */
  policyAnalysis?: PolicyAnalysisStorage;
  /** Card-processor bridges; without it the bridge routes answer 503. */
  bridges?: BridgeStorage;
  /** Org plans and usage counters; without it nothing is counted and the plan and usage routes answer 503. */
  quotas?: QuotaStorage;
  /** Org domains and settings; without it the domain routes answer 503. */
  domains?: DomainStorage;
}

/** Builds the stores from the configuration (e.g. MongoDB from MONGODB_URI). */
export type StoreFactory = (config: ServerConfig) => Promise<StoreSet>;

/** A running server. */
export interface RunningServer {
  server: Server;
  app: AllowanceApp;
  port: number;
  /** The operator credential, when it was generated at start. */
  generatedOperator: { keyId: string; secret: string } | null;
  /**
   * Stops accepting at once (listener closed, `Connection: close` on every response from now on,
   * connections closed once idle for a second), lets requests already taken finish (connections still open after `graceMs` are
   * closed), then stops background work and closes the stores. Default `graceMs`: the configured grace.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * The HTTP server of an app (not listening yet): requests tracked for a graceful drain, requests Node's
 * parser refuses answered with an error envelope and a Request-Id.
 */
export function createAppServer(app: AllowanceApp, logger: Logger): { server: Server; graceful: GracefulServer } {
  const server = createServer();
  const graceful = serveGracefully(server, app.callback());
  handleClientErrors(server, logger);
  server.keepAliveTimeout = 65_000;
  return { server, graceful };
}

/** How often approvals past their hold period are released. */
const HOLD_SWEEP_MS = 60_000;

/**
 * Starts the HTTP server from a validated configuration. `stores` builds the storage; it is required when
 * MONGODB_URI is set and must otherwise build the in-memory default.
 */
export async function startServer(
  config: ServerConfig,
  options: { stores: StoreFactory; logger: Logger; announce?: (text: string) => void },
): Promise<RunningServer> {
  const { logger } = options;
  const announce = options.announce ?? ((text: string) => process.stderr.write(text));
  if (config.masterKeyEphemeral) {
    logger.warn('master_key_ephemeral', {
      message:
        'ALLOWANCE_MASTER_KEY is unset: credential secrets are sealed with a random key of this process; every credential and session token is lost on restart. Set it in production.',
    });
  }
  if (!config.masterKeyEphemeral) {
    logger.info('master_key', {
      key_id: masterKeyId(config.masterKey),
      previous_key_ids: config.previousMasterKeys.map(masterKeyId),
    });
  }
  const { keys, ephemeral } = await loadSigningKeys(config);
  if (ephemeral) {
    logger.warn('signing_key_ephemeral', {
      message:
        'ALLOWANCE_SIGNING_KEY_FILE is unset: decisions, mandates and agent tokens are signed with a key of this process only.',
      kid: keys[0]?.kid,
    });
  }
  const bundlePath = isAbsolute(config.policyBundle)
    ? config.policyBundle
    : resolve(projectRoot(), config.policyBundle);
  let bundle: Uint8Array;
  try {
    bundle = new Uint8Array(await readFile(bundlePath));
  } catch (err) {
    throw new Error(
      `cannot read the policy bundle ${bundlePath} (${(err as Error).message}); build it with \`npm run build:policies\` or set ALLOWANCE_POLICY_BUNDLE`,
    );
  }
  const basePolicy = await loadPolicy(bundle);
  const { store, credentials, webhooks, sharedLimits, policies, policyAnalysis, bridges, quotas, domains } =
    await options.stores(config);
  await bridges?.init();
  await quotas?.init();
  const registry = policies ? new PolicyRegistry({ storage: policies, base: basePolicy, logger }) : null;
  const engine = createEngine({
    store,
    policy: registry ?? basePolicy,
    keys,
    logger,
    config: {
      authorizeDeadlineMs: config.authorizeDeadlineMs,
      // A crashed attempt is taken over soon after any processor has given up on it.
      claimLeaseMs: 2 * config.authorizeDeadlineMs,
      standInSpoolDir: resolve(config.spoolDir),
    },
    ...(policyAnalysis ? { analysis: { storage: policyAnalysis } } : {}),
    ...(quotas ? { quotas } : {}),
  });
  await engine.init();
  await credentials.init();
  await policyAnalysis?.init();
  if (policies && registry) {
    await policies.init();
    await registry.refresh();
    registry.start(config.policyPollMs);
  }

  let operator = config.operator;
  let generatedOperator: RunningServer['generatedOperator'] = null;
  if (!operator) {
    operator = {
      keyId: `op_${randomBytes(10).toString('hex')}`,
      secret: `sk_${randomBytes(32).toString('base64url')}`,
    };
    generatedOperator = operator;
    announce(
      [
        '',
        '==================== Allowance operator credential ====================',
        'ALLOWANCE_OPERATOR_KEY_ID/ALLOWANCE_OPERATOR_SECRET are unset; generated for this process only.',
        'It is printed once and never again:',
        `  key_id: ${operator.keyId}`,
        `  secret: ${operator.secret}`,
        '========================================================================',
        '',
      ].join('\n'),
    );
  }

  const rateLimit = { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst };
  const app = createApp({
    engine,
    credentials,
    masterKey: config.masterKey,
    previousMasterKeys: config.previousMasterKeys,
    operator,
    logger,
    rateLimit,
    ...(sharedLimits
      ? {
          credentialLimiter: mongoCredentialLimiter({
            ...sharedLimits.mongo,
            ...rateLimit,
            fallback: localCredentialLimiter(new RateLimiter(rateLimit.perSecond, rateLimit.burst, systemClock)),
          }),
        }
      : {}),
    addressRateLimit: { perSecond: config.addressRateLimitPerSecond, burst: config.addressRateLimitBurst },
    trustedProxies: parseTrustedProxies(config.trustedProxies),
    unknownKeyCacheMs: config.unknownKeyCacheMs,
    unknownKeyRateLimit: { perSecond: config.unknownKeyRateLimitPerSecond, burst: config.unknownKeyRateLimitBurst },
    ...(webhooks ? { webhooks } : {}),
    ...(bridges ? { bridges } : {}),
    ...(domains ? { domains } : {}),
    dns: { servers: config.dnsServers },
    webhookConfig: config.webhooks,
    ...(policies && registry
      ? {
          policies: {
            storage: policies,
            registry,
            maxBytes: config.policyMaxBytes,
            fileBaseSha256: createHash('sha256').update(bundle).digest('hex'),
          },
        }
      : {}),
  });
  await app.start();
  const sweep = setInterval(() => {
    engine.expireHolds().catch((err: unknown) => logger.error('expire_holds_failed', { error: String(err) }));
    engine.expireApprovals().catch((err: unknown) => logger.error('expire_approvals_failed', { error: String(err) }));
  }, HOLD_SWEEP_MS);
  sweep.unref();

  const { server, graceful } = createAppServer(app, logger);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(config.port, config.host, () => ok());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('listening', { port, host: config.host, store: config.store });

  let closing: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs) => {
    closing ??= (async () => {
      clearInterval(sweep);
      await registry?.stop();
      const drained = await graceful.drain(graceMs);
      if (drained.forcedConnections > 0 || drained.handlersTimedOut) {
        logger.warn('shutdown_grace_exceeded', {
          grace_ms: graceMs,
          connections_closed: drained.forcedConnections,
          handlers_abandoned: drained.handlersTimedOut,
        });
      }
      // Only now that no request runs: background timers, webhook attempts in flight (bounded by their
      // timeout) and pending bookkeeping writes; audit drafts not yet linked stay in the outbox for the
      // next start.
      await app.stop();
      await engine.close();
      await credentials.close();
      await webhooks?.close();
      await policies?.close();
      await policyAnalysis?.close();
      await bridges?.close();
      await quotas?.close();
      await domains?.close();
      logger.info('stopped', {});
    })();
    return closing;
  };
  return { server, app, port, generatedOperator, shutdown };
}
