import type { Engine } from '../engine/index.js';
import type { Clock } from '../util/clock.js';
import type { WebhookService } from '../webhooks/index.js';
import type { AgentTokens } from './auth/agent-tokens.js';
import type { CredentialService } from './auth/credential-service.js';
import type { SessionTokens } from './auth/session-tokens.js';
import type { Metrics } from './metrics.js';
import type { RateLimiter } from './middleware/rate-limit.js';
import type { PolicyCandidates } from './policy-candidates.js';
import type { PolicyService } from './policy-service.js';

/** What route handlers work with; built once by createApp. */
export interface Services {
  engine: Engine;
  credentials: CredentialService;
  sessions: SessionTokens;
  agentTokens: AgentTokens;
  metrics: Metrics;
  rateLimiter: RateLimiter;
  clock: Clock;
  /** Webhook endpoints, their delivery log and the background dispatcher. */
  webhooks: WebhookService;
  /** Per-org policy bundles and the base policy (503 when the server keeps no policy storage). */
  policies: PolicyService;
  /** The org revisions shadow reports and replays read; absent without policy storage (503). */
  policyCandidates?: PolicyCandidates;
}
