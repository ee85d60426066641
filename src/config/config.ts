import { randomBytes } from 'node:crypto';
import { DEFAULT_WEBHOOK_CONFIG, type WebhookConfig } from '../webhooks/config.js';

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The server's configuration, read from the environment once at start by {@link loadConfig}. */
export interface ServerConfig {
  /** PORT. Default 8080. */
  port: number;
  /** HOST. Default 0.0.0.0. */
  host: string;
  /** MONGODB_URI. Unset (the default) means the embedded in-memory store. */
  mongodbUri: string | null;
  /**
   * ALLOWANCE_MASTER_KEY: 32 bytes as base64 or hex; seals credential secrets (AES-256-GCM) and derives the
   * session-token key. Unset: a random key for this process only (credentials die with it), with a warning.
   */
  masterKey: Buffer;
  masterKeyEphemeral: boolean;
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
  /** ALLOWANCE_WEBHOOK_*: where webhooks may point and how deliveries are retried (see WebhookConfig). */
  webhooks: WebhookConfig;
}

/** A configuration problem found at start; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function parseKey(raw: string): Buffer {
  const text = raw.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (bytes.length !== 32) {
    throw new ConfigError('ALLOWANCE_MASTER_KEY must be 32 bytes, as 64 hex digits or base64');
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
  return {
    port,
    host: optional(env, 'HOST') ?? '0.0.0.0',
    mongodbUri: optional(env, 'MONGODB_URI'),
    masterKey: rawMaster === null ? randomBytes(32) : parseKey(rawMaster),
    masterKeyEphemeral: rawMaster === null,
    signingKeyFile,
    previousSigningKeyFiles,
    logLevel: logLevel as LogLevel,
    policyBundle: optional(env, 'ALLOWANCE_POLICY_BUNDLE') ?? 'build/policies/bundle.tar.gz',
    policyMaxBytes: positiveInt(env, 'ALLOWANCE_POLICY_MAX_BYTES', 10 * 1024 * 1024, 256 * 1024 * 1024),
    policyPollMs: positiveInt(env, 'ALLOWANCE_POLICY_POLL_MS', 250, 60_000),
    operator: opKeyId !== null && opSecret !== null ? { keyId: opKeyId, secret: opSecret } : null,
    rateLimitPerSecond: positiveInt(env, 'ALLOWANCE_RATE_LIMIT_RPS', 200, 10_000_000),
    rateLimitBurst: positiveInt(env, 'ALLOWANCE_RATE_LIMIT_BURST', 400, 10_000_000),
    webhooks: webhookConfig(env),
  };
}
