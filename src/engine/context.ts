import type { Jwks, SigningKey } from '../crypto/index.js';
import type { LoadedPolicy } from '../policy/index.js';
import type { StorageAdapter } from '../storage/index.js';
import type { Clock } from '../util/clock.js';

/** Where the engine gets the policy to evaluate for an org. */
export interface PolicyResolver {
  /** The active policy and, when one is set, the shadow policy whose result is only logged. */
  forOrg(orgId: string): { active: LoadedPolicy; shadow: LoadedPolicy | null };
}

/** Structured log sink; every method receives one JSON-serializable record. */
export interface EngineLogger {
  info(event: string, fields: Record<string, unknown>): void;
  warn(event: string, fields: Record<string, unknown>): void;
  error(event: string, fields: Record<string, unknown>): void;
}

/** Tunables of the engine, with their defaults. */
export interface EngineConfig {
  /** How long an approval holds budget before expireHolds releases it. Default 7 days. */
  holdPeriodMs: number;
  /**
   * How long a server must itself see a claimed authorization pending and unchanged (on its own monotonic
   * clock) before it takes the claim over. Default 3 s: twice the default authorize deadline of 1,500 ms,
   * so a crashed attempt is recovered within a few seconds. Taking over a live but slow holder is safe:
   * its final write is conditional on the claim version the taker replaced.
   */
  claimLeaseMs: number;
  /** How long a duplicate request waits for a concurrent twin to finish. Default 2 s. */
  duplicateWaitMs: number;
}

/** Defaults of {@link EngineConfig}. */
export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  holdPeriodMs: 7 * 24 * 3600 * 1000,
  claimLeaseMs: 3_000,
  duplicateWaitMs: 2_000,
};

/** Everything a use case needs; built once by createEngine. */
export interface EngineContext {
  store: StorageAdapter;
  clock: Clock;
  policies: PolicyResolver;
  signingKey: SigningKey;
  jwks: Jwks;
  sign: (payload: object) => string;
  config: EngineConfig;
  logger: EngineLogger;
  /** False when audit drafts are not written (EngineOptions.audit.enabled). */
  auditEnabled: boolean;
}
