import type { BridgeService } from '../bridges/index.js';
import type { DomainService } from '../domains/index.js';
import type { Engine } from '../engine/index.js';
import type { Clock } from '../util/clock.js';
import type { WebhookService } from '../webhooks/index.js';
import type { AgentTokens } from './auth/agent-tokens.js';
import type { CredentialService, ReadGuard } from './auth/credential-service.js';
import type { SessionTokens } from './auth/session-tokens.js';
import type { AppMetrics } from './metrics.js';
import type { CredentialLimiter, RateLimiter } from './middleware/rate-limit.js';
import type { PolicyCandidates } from './policy-candidates.js';
import type { PolicyService } from './policy-service.js';
import type { RulesService } from './rules-service.js';
import type { AppContext } from './types.js';

/** What route handlers work with; built once by createApp. */
export interface Services {
  engine: Engine;
  credentials: CredentialService;
  sessions: SessionTokens;
  agentTokens: AgentTokens;
  metrics: AppMetrics;
  /** Token buckets of this process (the credential exchange's per-key-id limit). */
  rateLimiter: RateLimiter;
  /** The per-credential limit of authenticated requests (shared by every server on MongoDB). */
  credentialLimiter: CredentialLimiter;
  /** Per client address, in front of authentication and on the public verification routes; null when off. */
  addressLimiter: RateLimiter | null;
  /** Store reads of key ids this server does not hold that found nothing, per client address; null when off. */
  unknownKeyLimiter: RateLimiter | null;
  /** The guard of a request's key-id reads: the client address's budget of unknown key ids. */
  readGuard(ctx: AppContext): ReadGuard | undefined;
  clock: Clock;
  /** Webhook endpoints, their delivery log and the background dispatcher. */
  webhooks: WebhookService;
  /** Per-org policy bundles and the base policy (503 when the server keeps no policy storage). */
  policies: PolicyService;
  /** Rules as data: an org's rules stored as policy revisions (503 without policy storage). */
  rules: RulesService;
  /** The org revisions shadow reports and replays read; absent without policy storage (503). */
  policyCandidates?: PolicyCandidates;
  /** Card-processor bridges (503 on registration when the server keeps no bridge storage). */
  bridges: BridgeService;
  /** Org domains proved by DNS and the org's settings (503 when the server keeps no domain storage). */
  domains: DomainService;
}
