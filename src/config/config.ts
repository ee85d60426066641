import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseTrustedProxies } from './trusted-proxies.js';
import { DEFAULT_WEBHOOK_CONFIG, type WebhookConfig } from './webhook-config.js';

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The server's configuration, read from the environment once at start by {@link loadConfig}. */
export interface ServerConfig {
  /** PORT. Default 8080. */
  port: number;
  /** HOST. Default 0.0.0.0. */
  host: string;
  /** MONGODB_URI. Set: the MongoDB store. */
  mongodbUri: string | null;
  /**
   * Which store: `mongodb` when MONGODB_URI is set, else ALLOWANCE_STORE: `sqlite` (the default, durable,
   * `<dataDir>/allowance.db`) or `memory` (ephemeral: everything is lost on exit; tests and demos).
   */
  store: 'sqlite' | 'memory' | 'mongodb';
  /** ALLOWANCE_DATA_DIR: the SQLite database and the keys generated for it. Default ./data. */
  dataDir: string;
  /**
   * ALLOWANCE_MEMORY_HISTORY: on the memory store, the authorizations (and the audit events per org) kept;
   * older ones are dropped with a warning so a long demo does not eat the machine. Default 100000.
   */
  memoryHistory: number;
  /**
   * ALLOWANCE_MASTER_KEY: 32 bytes as base64 or hex; seals credential secrets (AES-256-GCM) and derives the
   * session-token key. Unset: a random key for this process only (credentials die with it), with a warning.
   */
  masterKey: Buffer;
  masterKeyEphemeral: boolean;
  /**
   * ALLOWANCE_PREVIOUS_MASTER_KEYS: comma-separated master keys rotated out. Secrets sealed under them still
   * open; new secrets are sealed under ALLOWANCE_MASTER_KEY only.
   */
  previousMasterKeys: Buffer[];
  /** ALLOWANCE_SIGNING_KEY_FILE: PKCS#8 PEM Ed25519 key that signs decisions, mandates and agent tokens. */
  signingKeyFile: string | null;
  /**
   * ALLOWANCE_PREVIOUS_SIGNING_KEY_FILES: comma-separated PEM files of keys that signed before a rotation.
   * They stay in the JWKS (so earlier proofs, mandates and agent tokens still verify) and never sign.
   */
  previousSigningKeyFiles: string[];
  /** LOG_LEVEL. Default info. */
  logLevel: LogLevel;
  /** ALLOWANCE_POLICY_BUNDLE. Default build/policies/bundle.tar.gz (built by `npm run build:policies`). */
  policyBundle: string;
  /** ALLOWANCE_POLICY_MAX_BYTES: the largest org or base bundle upload. Default 10 MiB. */
  policyMaxBytes: number;
  /** ALLOWANCE_POLICY_POLL_MS: how often the server looks for policy changes made on other servers. Default 250. */
  policyPollMs: number;
  /** ALLOWANCE_OPERATOR_KEY_ID and ALLOWANCE_OPERATOR_SECRET, both or neither; generated at start when unset. */
  operator: { keyId: string; secret: string } | null;
  /** ALLOWANCE_RATE_LIMIT_RPS: sustained requests per second per credential. Default 200. */
  rateLimitPerSecond: number;
  /** ALLOWANCE_RATE_LIMIT_BURST: bucket size per credential. Default 400. */
  rateLimitBurst: number;
  /** ALLOWANCE_ADDRESS_RATE_LIMIT_RPS: sustained requests per second per client address. Default 1000. */
  addressRateLimitPerSecond: number;
  /** ALLOWANCE_ADDRESS_RATE_LIMIT_BURST: bucket size per client address. Default 2000 (at least 100). */
  addressRateLimitBurst: number;
  /**
   * ALLOWANCE_TRUSTED_PROXIES: comma-separated addresses or CIDR ranges of reverse proxies whose
   * X-Forwarded-For names the client address. Default none: the socket's address is the client's.
   */
  trustedProxies: string[];
  /** ALLOWANCE_UNKNOWN_KEY_CACHE_MS: how long a key id unknown to the store is not read again. Default 2000. */
  unknownKeyCacheMs: number;
  /**
   * ALLOWANCE_UNKNOWN_KEY_RATE_LIMIT_RPS / _BURST: per client address, store reads that found no credential
   * (unknown key id, or a wrong secret on the exchange). Default 10/s, 20.
   */
  unknownKeyRateLimitPerSecond: number;
  unknownKeyRateLimitBurst: number;
  /**
   * ALLOWANCE_SHUTDOWN_GRACE_MS: on SIGTERM, how long requests already taken may run before their
   * connections are closed. Default 10000.
   */
  shutdownGraceMs: number;
  /** ALLOWANCE_WEBHOOK_*: where webhooks may point and how deliveries are retried (see WebhookConfig). */
  webhooks: WebhookConfig;
  /**
   * ALLOWANCE_AUTHORIZE_DEADLINE_MS: the time budget of one authorize, every store call included (100–60000).
   * Default 1500. The claim lease is twice this; on MongoDB the driver's timeouts are sized to it.
   */
  authorizeDeadlineMs: number;
  /**
   * ALLOWANCE_SPOOL_DIR: where stand-in decisions are spooled until the store takes them; one server process
   * per directory (locked). Default `<dataDir>/spool`.
   */
  spoolDir: string;
  /**
   * ALLOWANCE_DNS_SERVERS: nameservers that domain verification asks for TXT records, comma-separated
   * (`1.1.1.1`, `127.0.0.1:5353`, `[2001:db8::1]:53`). Empty: the system's resolvers.
   */
  dnsServers: string[];
}

/**
 * Nameserver addresses as node:dns `setServers` takes them: an IP address, optionally with a port (an IPv6
 * address with a port in brackets). Throws ConfigError naming the first bad one.
 */
export function parseDnsServers(raw: string): string[] {
  const out: string[] = [];
  for (const item of raw.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const bracketed = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(item);
    const withPort = /^([^:]+):([0-9]{1,5})$/.exec(item);
    const host = bracketed ? bracketed[1] : withPort ? withPort[1] : item;
    const port = bracketed ? bracketed[2] : withPort ? withPort[2] : undefined;
    const family = isIP(host ?? '');
    if (
      family === 0 ||
      (bracketed && family !== 6) ||
      (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    ) {
      throw new ConfigError(`ALLOWANCE_DNS_SERVERS: "${item}" is not an IP address with an optional port`);
    }
    out.push(item);
  }
  return out;
}

/**
 * MongoDB client options a connection string may not raise above the authorize deadline: a longer one
 * would let a store call outlive the budget it runs in.
 */
export const MONGODB_TIMEOUT_OPTIONS = [
  'serverSelectionTimeoutMS',
  'connectTimeoutMS',
  'socketTimeoutMS',
  'waitQueueTimeoutMS',
] as const;

/**
 * MongoDB client options sized to the authorize deadline: picking a server, connecting, waiting for a
 * pooled connection and waiting on a socket for an answer all give up within it, so a frozen or lost
 * database fails a call with `unavailable` instead of hanging. (The driver in use ignores `timeoutMS`:
 * the socket timeout is the per-operation bound.) Passed explicitly, so they take precedence over the
 * connection string, which {@link loadConfig} checks not to ask for longer.
 */
export function mongoClientOptions(authorizeDeadlineMs: number): Record<string, number> {
  return {
    serverSelectionTimeoutMS: authorizeDeadlineMs,
    connectTimeoutMS: authorizeDeadlineMs,
    socketTimeoutMS: authorizeDeadlineMs,
    waitQueueTimeoutMS: authorizeDeadlineMs,
  };
}

function checkMongoUri(uri: string, deadlineMs: number): void {
  const query = uri.includes('?') ? uri.slice(uri.indexOf('?') + 1) : '';
  const params = new URLSearchParams(query);
  for (const [key, value] of params) {
    const known = MONGODB_TIMEOUT_OPTIONS.find((o) => o.toLowerCase() === key.toLowerCase());
    if (!known) continue;
    const ms = Number(value);
    // 0 means "no timeout" to the driver: never within the budget.
    if (!Number.isFinite(ms) || ms <= 0 || ms > deadlineMs) {
      throw new ConfigError(
        `MONGODB_URI sets ${known}=${value}, which is not within ALLOWANCE_AUTHORIZE_DEADLINE_MS (${deadlineMs} ms); remove it or lower it`,
      );
    }
  }
}

/** A configuration problem found at start; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function parseKey(raw: string, name = 'ALLOWANCE_MASTER_KEY'): Buffer {
  const text = raw.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (bytes.length !== 32) {
    throw new ConfigError(`${name} must be 32 bytes, as 64 hex digits or base64`);
  }
  return bytes;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new ConfigError(`${name} must be an integer between 1 and ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function webhookConfig(env: NodeJS.ProcessEnv): WebhookConfig {
  const d = DEFAULT_WEBHOOK_CONFIG;
  const backoffBaseMs = positiveInt(env, 'ALLOWANCE_WEBHOOK_BACKOFF_BASE_MS', d.backoffBaseMs, 86_400_000);
  const backoffCapMs = positiveInt(env, 'ALLOWANCE_WEBHOOK_BACKOFF_CAP_MS', d.backoffCapMs, 7 * 86_400_000);
  if (backoffCapMs < backoffBaseMs) {
    throw new ConfigError('ALLOWANCE_WEBHOOK_BACKOFF_CAP_MS must not be below ALLOWANCE_WEBHOOK_BACKOFF_BASE_MS');
  }
  return {
    ...d,
    allowPrivateTargets: flag(env, 'ALLOWANCE_WEBHOOK_ALLOW_PRIVATE', d.allowPrivateTargets),
    allowHttp: flag(env, 'ALLOWANCE_WEBHOOK_ALLOW_HTTP', d.allowHttp),
    maxAttempts: positiveInt(env, 'ALLOWANCE_WEBHOOK_MAX_ATTEMPTS', d.maxAttempts, 100),
    disableAfterFailures: positiveInt(env, 'ALLOWANCE_WEBHOOK_DISABLE_AFTER', d.disableAfterFailures, 1_000_000),
    backoffBaseMs,
    backoffCapMs,
    timeoutMs: positiveInt(env, 'ALLOWANCE_WEBHOOK_TIMEOUT_MS', d.timeoutMs, 120_000),
  };
}

function optional(env: NodeJS.ProcessEnv, name: string): string | null {
  const v = env[name];
  return v === undefined || v === '' ? null : v;
}

/** Reads and validates the environment; throws {@link ConfigError} naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = env.PORT === undefined || env.PORT === '' ? 8080 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`PORT must be 0..65535, got "${env.PORT}"`);
  const logLevel = (optional(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const rawMaster = optional(env, 'ALLOWANCE_MASTER_KEY');
  const opKeyId = optional(env, 'ALLOWANCE_OPERATOR_KEY_ID');
  const opSecret = optional(env, 'ALLOWANCE_OPERATOR_SECRET');
  if ((opKeyId === null) !== (opSecret === null)) {
    throw new ConfigError('set both ALLOWANCE_OPERATOR_KEY_ID and ALLOWANCE_OPERATOR_SECRET, or neither');
  }
  if (opKeyId !== null && !/^[a-z]+_[0-9a-z]+$/.test(opKeyId)) {
    throw new ConfigError('ALLOWANCE_OPERATOR_KEY_ID must look like op_<lower-case letters and digits>');
  }
  if (opSecret !== null && opSecret.length < 32) {
    throw new ConfigError('ALLOWANCE_OPERATOR_SECRET must be at least 32 characters');
  }
  const signingKeyFile = optional(env, 'ALLOWANCE_SIGNING_KEY_FILE');
  const previousSigningKeyFiles = (optional(env, 'ALLOWANCE_PREVIOUS_SIGNING_KEY_FILES') ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  if (previousSigningKeyFiles.length > 0 && signingKeyFile === null) {
    throw new ConfigError(
      'ALLOWANCE_PREVIOUS_SIGNING_KEY_FILES needs ALLOWANCE_SIGNING_KEY_FILE (the key that signs now)',
    );
  }
  const authorizeDeadlineMs = positiveInt(env, 'ALLOWANCE_AUTHORIZE_DEADLINE_MS', 1500, 60_000);
  if (authorizeDeadlineMs < 100) {
    throw new ConfigError(
      `ALLOWANCE_AUTHORIZE_DEADLINE_MS must be an integer between 100 and 60000, got "${env.ALLOWANCE_AUTHORIZE_DEADLINE_MS}"`,
    );
  }
  const mongodbUri = optional(env, 'MONGODB_URI');
  if (mongodbUri !== null) checkMongoUri(mongodbUri, authorizeDeadlineMs);
  const storeName = optional(env, 'ALLOWANCE_STORE');
  if (storeName !== null && !['sqlite', 'memory', 'mongodb'].includes(storeName)) {
    throw new ConfigError(`ALLOWANCE_STORE must be sqlite, memory or mongodb, got "${storeName}"`);
  }
  if (mongodbUri !== null && storeName !== null && storeName !== 'mongodb') {
    throw new ConfigError(`MONGODB_URI selects the MongoDB store; unset it or ALLOWANCE_STORE (${storeName})`);
  }
  if (mongodbUri === null && storeName === 'mongodb') {
    throw new ConfigError('ALLOWANCE_STORE=mongodb needs MONGODB_URI');
  }
  const store: ServerConfig['store'] = mongodbUri !== null ? 'mongodb' : storeName === 'memory' ? 'memory' : 'sqlite';
  const trustedProxies = (optional(env, 'ALLOWANCE_TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  try {
    parseTrustedProxies(trustedProxies);
  } catch (err) {
    throw new ConfigError(`ALLOWANCE_TRUSTED_PROXIES: ${(err as Error).message}`);
  }
  const addressRateLimitBurst = positiveInt(env, 'ALLOWANCE_ADDRESS_RATE_LIMIT_BURST', 2000, 10_000_000);
  if (addressRateLimitBurst < 100) {
    // A verify-batch of 100 tokens takes 100 at once: a smaller bucket could never let one through.
    throw new ConfigError(`ALLOWANCE_ADDRESS_RATE_LIMIT_BURST must be at least 100, got "${addressRateLimitBurst}"`);
  }
  const unknownRaw = optional(env, 'ALLOWANCE_UNKNOWN_KEY_CACHE_MS');
  if (unknownRaw !== null && (!/^[0-9]+$/.test(unknownRaw) || Number(unknownRaw) > 60_000)) {
    throw new ConfigError(`ALLOWANCE_UNKNOWN_KEY_CACHE_MS must be an integer between 0 and 60000, got "${unknownRaw}"`);
  }
  if (mongodbUri !== null && rawMaster === null) {
    throw new ConfigError(
      'MONGODB_URI is set, so ALLOWANCE_MASTER_KEY is required: every server of the database and every restart ' +
        'must open the same sealed secrets (a random key of this process would make them unreadable)',
    );
  }
  if (mongodbUri !== null && signingKeyFile === null) {
    throw new ConfigError(
      'MONGODB_URI is set, so ALLOWANCE_SIGNING_KEY_FILE is required: decisions, mandates and agent tokens must ' +
        'verify on every server and after a restart (a random key of this process would not)',
    );
  }
  const previousMasterKeys = (optional(env, 'ALLOWANCE_PREVIOUS_MASTER_KEYS') ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '')
    .map((k) => parseKey(k, 'every key of ALLOWANCE_PREVIOUS_MASTER_KEYS'));
  if (previousMasterKeys.length > 0 && rawMaster === null) {
    throw new ConfigError('ALLOWANCE_PREVIOUS_MASTER_KEYS needs ALLOWANCE_MASTER_KEY (the key that seals now)');
  }
  const dataDir = optional(env, 'ALLOWANCE_DATA_DIR') ?? './data';
  return {
    port,
    host: optional(env, 'HOST') ?? '0.0.0.0',
    mongodbUri,
    store,
    dataDir,
    memoryHistory: positiveInt(env, 'ALLOWANCE_MEMORY_HISTORY', 100_000, 100_000_000),
    masterKey: rawMaster === null ? randomBytes(32) : parseKey(rawMaster),
    masterKeyEphemeral: rawMaster === null,
    previousMasterKeys,
    signingKeyFile,
    previousSigningKeyFiles,
    logLevel: logLevel as LogLevel,
    policyBundle: optional(env, 'ALLOWANCE_POLICY_BUNDLE') ?? 'build/policies/bundle.tar.gz',
    policyMaxBytes: positiveInt(env, 'ALLOWANCE_POLICY_MAX_BYTES', 10 * 1024 * 1024, 256 * 1024 * 1024),
    policyPollMs: positiveInt(env, 'ALLOWANCE_POLICY_POLL_MS', 250, 60_000),
    operator: opKeyId !== null && opSecret !== null ? { keyId: opKeyId, secret: opSecret } : null,
    rateLimitPerSecond: positiveInt(env, 'ALLOWANCE_RATE_LIMIT_RPS', 200, 10_000_000),
    rateLimitBurst: positiveInt(env, 'ALLOWANCE_RATE_LIMIT_BURST', 400, 10_000_000),
    addressRateLimitPerSecond: positiveInt(env, 'ALLOWANCE_ADDRESS_RATE_LIMIT_RPS', 1000, 10_000_000),
    addressRateLimitBurst,
    trustedProxies,
    unknownKeyCacheMs: unknownRaw === null ? 2000 : Number(unknownRaw),
    unknownKeyRateLimitPerSecond: positiveInt(env, 'ALLOWANCE_UNKNOWN_KEY_RATE_LIMIT_RPS', 10, 10_000_000),
    unknownKeyRateLimitBurst: positiveInt(env, 'ALLOWANCE_UNKNOWN_KEY_RATE_LIMIT_BURST', 20, 10_000_000),
    shutdownGraceMs: positiveInt(env, 'ALLOWANCE_SHUTDOWN_GRACE_MS', 10_000, 600_000),
    webhooks: webhookConfig(env),
    authorizeDeadlineMs,
    spoolDir: optional(env, 'ALLOWANCE_SPOOL_DIR') ?? join(dataDir, 'spool'),
    dnsServers: parseDnsServers(optional(env, 'ALLOWANCE_DNS_SERVERS') ?? ''),
  };
}
