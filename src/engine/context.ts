import type { Jwks, SigningKey } from '../crypto/index.js';
import type { LoadedPolicy, PolicyResolver, PolicySet } from '../policy/index.js';
import type { QuotaStorage, StorageAdapter } from '../storage/index.js';
import type { Clock } from '../util/clock.js';
import type { ClaimSightings } from './claim-sightings.js';
import type { DecisionCounter } from './quotas.js';
import type { ResolutionHints } from './resolution-hints.js';
import type { ShadowRecorder } from './shadow-recorder.js';

export type { PolicyResolver, PolicySet } from '../policy/index.js';

/** Counters of the engine, read by /metrics. */
export interface EngineStats {
  /** Org policy evaluations that threw or returned an invalid decision (each a DENY `policy_error`). */
  orgPolicyErrors: number;
  /** Times an org's decisions of a month went past its plan (decisions are still issued and signed). */
  quotaOverages: number;
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
  /** How long the human approval a STEP_UP decision opens can be decided and used. Default 24 hours. */
  approvalPeriodMs: number;
  /**
   * How long a server must itself see a claimed authorization pending and unchanged (on its own monotonic
   * clock) before it takes the claim over. Default 3 s: twice the default authorize deadline of 1,500 ms,
   * so a crashed attempt is recovered within a few seconds. Taking over a live but slow holder is safe:
   * its final write is conditional on the claim version the taker replaced.
   */
  claimLeaseMs: number;
  /** How long a duplicate request waits for a concurrent twin to finish. Default 2 s. */
  duplicateWaitMs: number;
  /**
   * The time budget of one authorize: every store call of it runs inside this many milliseconds. When it
   * runs out, or the store is unavailable, authorize answers with the authority's stand-in rule (when a
   * spool is configured) or fails with `storage_unavailable`. Default 1500.
   */
  authorizeDeadlineMs: number;
  /**
   * Directory of the local spool where stand-in decisions are written (fsync) before they are answered,
   * until they are drained into the store. Null (the default): no stand-in processing.
   */
  standInSpoolDir: string | null;
  /** How often the background drainer tries to write spooled stand-in decisions into the store. Default 1 s. */
  standInDrainIntervalMs: number;
}

/** Defaults of {@link EngineConfig}. */
export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  holdPeriodMs: 7 * 24 * 3600 * 1000,
  approvalPeriodMs: 24 * 3600 * 1000,
  claimLeaseMs: 3_000,
  duplicateWaitMs: 2_000,
  authorizeDeadlineMs: 1_500,
  standInSpoolDir: null,
  standInDrainIntervalMs: 1_000,
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
  stats: EngineStats;
  /**
   * Pending claims this engine has seen, on its own monotonic clock: one per engine, shared by every
   * request (a request's scoped context copies the reference), so a retry sees what an earlier one saw.
   */
  claimSightings: ClaimSightings;
  /** Monotonic milliseconds of this process (EngineOptions.elapsed): what claim sightings are measured in. */
  elapsed: () => number;
  /**
   * The ids each credential resolved to last (one per engine, shared like `claimSightings`): authorize reads
   * the resolution in one round trip with them. Absent: always in order.
   */
  resolutionHints?: ResolutionHints;
  /** Compares shadow candidates with live decisions; absent without policy analysis storage. */
  shadow?: ShadowRecorder;
  /** Org plans and counters; absent: no quotas (nothing is counted or refused). */
  quotas?: QuotaStorage;
  /** Counts decisions from the audit chain into `quotas`; present with it. */
  decisionCounter?: DecisionCounter;
}

/** A policy override as a {@link PolicySet}: one policy replaces the base (no org layer). */
export function toPolicySet(policy: LoadedPolicy | PolicySet | undefined): PolicySet | undefined {
  if (policy === undefined) return undefined;
  return 'active' in policy ? policy : { active: policy, shadow: null };
}
