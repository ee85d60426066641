import type { Engine } from '../engine/index.js';
import type { Clock } from '../util/clock.js';
import type { WebhookService } from '../webhooks/index.js';
import type { AgentTokens } from './auth/agent-tokens.js';
import type { CredentialService } from './auth/credential-service.js';
import type { SessionTokens } from './auth/session-tokens.js';
import type { Metrics } from './metrics.js';
import type { RateLimiter } from './middleware/rate-limit.js';

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
}
