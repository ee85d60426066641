import { DEFAULT_WEBHOOK_CONFIG, type WebhookConfig } from '../config/index.js';
import type { SecretBox } from '../crypto/index.js';
import type { Engine, EngineLogger } from '../engine/index.js';
import type { WebhookStorage } from '../storage/index.js';
import type { Clock } from '../util/clock.js';
import { WebhookDispatcher } from './dispatcher.js';
import type { WebhookSender } from './sender.js';
import { WebhookService, type WebhookServiceOptions } from './service.js';
import type { HostResolver } from './target-guard.js';

/** What {@link createWebhookService} needs. */
export interface WebhookWiring {
  engine: Engine;
  /** Null: webhooks are not configured, every route answers `storage_unavailable`. */
  storage: WebhookStorage | null;
  /** The master key's secret box: seals endpoint secrets. */
  box: SecretBox;
  clock: Clock;
  logger: EngineLogger;
  config?: Partial<WebhookConfig>;
  /** Host resolution of the target check at registration (tests). */
  resolve?: HostResolver;
  /** Replaces the HTTP sender of the dispatcher (tests). */
  sender?: WebhookSender;
  /**
   * Why the org may not target `url` (its verified-domains setting), or null: asked at registration (422
   * `webhook_domain_not_verified`) and before every delivery attempt (not sent, a failed attempt).
   */
  targetRefusal?: (orgId: string, url: URL) => Promise<string | null>;
}

/**
 * The webhook service of an app, with its dispatcher reading the engine's audit chain and woken by its
 * chainer. Audit events of webhook changes (`webhook.created`, `webhook.deleted`, `webhook.disabled`) are
 * written as drafts by the webhook storage, atomically with the change, into the audit outbox of the
 * engine's store (the storage must share its backend: `createMemoryStores` / `createMongoStores`).
 */
export function createWebhookService(wiring: WebhookWiring): WebhookService {
  const config: WebhookConfig = { ...DEFAULT_WEBHOOK_CONFIG, ...wiring.config };
  const { engine } = wiring;
  const chain = engine.audit.chain;
  const drafts: WebhookServiceOptions['drafts'] = (spec) =>
    engine.auditDraft({
      orgId: spec.orgId,
      type: spec.type,
      subject: { kind: 'webhook', id: spec.endpointId },
      agentId: null,
      payload: spec.payload,
      actor: spec.actor,
    });
  const dispatcher = wiring.storage
    ? new WebhookDispatcher({
        webhooks: wiring.storage,
        audit: chain,
        box: wiring.box,
        config,
        clock: wiring.clock,
        logger: wiring.logger,
        ...(wiring.sender ? { sender: wiring.sender } : {}),
        ...(wiring.targetRefusal ? { targetRefusal: wiring.targetRefusal } : {}),
        disabledDraft: (endpoint) =>
          drafts({
            orgId: endpoint.org_id,
            type: 'webhook.disabled',
            endpointId: endpoint.id,
            payload: { consecutive_failures: endpoint.consecutive_failures },
          }),
      })
    : null;
  return new WebhookService({
    storage: wiring.storage,
    audit: chain,
    box: wiring.box,
    clock: wiring.clock,
    config,
    drafts,
    dispatcher,
    ...(wiring.resolve ? { resolve: wiring.resolve } : {}),
    onLinked: (listener) => engine.audit.chainer.onLinked((orgId) => listener(orgId)),
    ...(engine.quotas.enabled
      ? {
          quota: {
            acquire: (orgId: string) => engine.quotas.acquire(orgId, 'webhooks'),
            release: (orgId: string) => engine.quotas.release(orgId, 'webhooks'),
          },
        }
      : {}),
    ...(wiring.targetRefusal ? { targetRefusal: wiring.targetRefusal } : {}),
  });
}
