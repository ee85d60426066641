import type { AuditDraft } from '../audit/types.js';
import type { WebhookConfig } from '../config/index.js';
import type { SecretBox } from '../crypto/index.js';
import { AppError } from '../errors/index.js';
import type {
  AuditStorage,
  Page,
  WebhookAttempt,
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookEndpointStatus,
  WebhookStorage,
} from '../storage/index.js';
import { type Clock, isoTime } from '../util/clock.js';
import { newId } from '../util/ids.js';
import { WEBHOOK_ID_PREFIX } from './deliveries.js';
import type { WebhookDispatcher } from './dispatcher.js';
import { generateWebhookSecret, secretAssociatedData } from './signing.js';
import { checkWebhookTarget, type HostResolver, parseWebhookUrl } from './target-guard.js';

/** Endpoints one org may register. */
export const MAX_WEBHOOKS_PER_ORG = 20;

/** An endpoint as listed: the secret masked. */
export interface WebhookView {
  id: string;
  org_id: string;
  url: string;
  events: string[];
  description: string | null;
  status: WebhookEndpointStatus;
  secret: string;
  consecutive_failures: number;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

/** An endpoint as returned at creation: the one time the secret appears. */
export type CreatedWebhook = WebhookView & { secret: string };

/** A delivery as shown in the delivery log. */
export interface WebhookDeliveryView {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  event_seq: number;
  status: WebhookDeliveryStatus;
  attempts: number;
  attempt_log: WebhookAttempt[];
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

/** Builds the audit draft of a webhook change; undefined when audit is off. */
export type WebhookDraftFactory = (spec: {
  orgId: string;
  type: 'webhook.created' | 'webhook.deleted' | 'webhook.disabled';
  endpointId: string;
  payload: Record<string, unknown>;
  actor?: string;
}) => AuditDraft[] | undefined;

/** Options of {@link WebhookService}. */
export interface WebhookServiceOptions {
  /** Null when the server was built without webhook storage: every call is `storage_unavailable`. */
  storage: WebhookStorage | null;
  /**
   * Reads the chain head (the new endpoint's cursor). The audit drafts of webhook changes are not written
   * here but by `storage`, atomically with the change, into the outbox of this store's backend.
   */
  audit: Pick<AuditStorage, 'getAuditHead'>;
  box: SecretBox;
  clock: Clock;
  config: WebhookConfig;
  drafts: WebhookDraftFactory;
  dispatcher: WebhookDispatcher | null;
  /** Host resolution of the target check (tests). Default: the system resolver. */
  resolve?: HostResolver;
  /** Subscribes to newly linked audit events (the chainer's `onLinked`); returns the unsubscribe function. */
  onLinked?: (listener: (orgId: string) => void) => () => void;
  /**
   * The org's plan: `acquire` takes one webhook endpoint or throws 402 `quota_exceeded`, `release` gives one
   * back. Default: no quota.
   */
  quota?: { acquire(orgId: string): Promise<void>; release(orgId: string): Promise<void> };
  /**
   * Why the org may not register `url` (e.g. outside its verified domains while it allows only those), or
   * null: 422 `webhook_domain_not_verified` at registration. The dispatcher asks the same before every attempt.
   */
  targetRefusal?: (orgId: string, url: URL) => Promise<string | null>;
}

/** An endpoint's URL as recorded in audit payloads: no query string, which may carry a token. */
function auditUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** The view of a stored endpoint, secret masked. */
export function webhookView(e: WebhookEndpoint): WebhookView {
  return {
    id: e.id,
    org_id: e.org_id,
    url: e.url,
    events: [...e.events],
    description: e.description,
    status: e.status,
    secret: `whsec_****${e.secret_last4}`,
    consecutive_failures: e.consecutive_failures,
    disabled_at: e.disabled_at,
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}

function deliveryView(d: WebhookDelivery): WebhookDeliveryView {
  return {
    id: d.id,
    endpoint_id: d.endpoint_id,
    event_id: d.event_id,
    event_type: d.event_type,
    event_seq: d.event_seq,
    status: d.status,
    attempts: d.attempts,
    attempt_log: d.attempt_log.map((a) => ({ ...a })),
    next_attempt_at: d.next_attempt_at,
    delivered_at: d.delivered_at,
    created_at: d.created_at,
    updated_at: d.updated_at,
  };
}

/**
 * Webhook endpoints of an org: registration (target checked, secret generated and shown once, sealed with
 * the master key), masked listing, deletion and the delivery log. Delivery itself is the dispatcher's.
 */
export class WebhookService {
  private readonly storage: WebhookStorage | null;
  private readonly audit: WebhookServiceOptions['audit'];
  private readonly box: SecretBox;
  private readonly clock: Clock;
  private readonly config: WebhookConfig;
  private readonly drafts: WebhookDraftFactory;
  private readonly resolve: HostResolver | undefined;
  private readonly onLinked: WebhookServiceOptions['onLinked'];
  private readonly quota: WebhookServiceOptions['quota'];
  private readonly targetRefusal: WebhookServiceOptions['targetRefusal'];
  private unsubscribe: (() => void) | null = null;
  /** The background deliverer; null when webhooks are not configured. */
  readonly dispatcher: WebhookDispatcher | null;

  constructor(options: WebhookServiceOptions) {
    this.storage = options.storage;
    this.audit = options.audit;
    this.box = options.box;
    this.clock = options.clock;
    this.config = options.config;
    this.drafts = options.drafts;
    this.dispatcher = options.dispatcher;
    this.resolve = options.resolve;
    this.onLinked = options.onLinked;
    this.quota = options.quota;
    this.targetRefusal = options.targetRefusal;
  }

  /** Initializes the storage (idempotent) and starts delivering in the background, woken by new events. */
  async start(): Promise<void> {
    if (!this.storage || !this.dispatcher || this.unsubscribe) return;
    const dispatcher = this.dispatcher;
    await this.storage.init();
    if (this.unsubscribe) return;
    this.unsubscribe = this.onLinked?.((orgId) => dispatcher.notify(orgId)) ?? (() => {});
    dispatcher.start();
  }

  /** Stops background delivery and waits for attempts in progress. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.dispatcher?.stop();
  }

  private store(): WebhookStorage {
    if (!this.storage) throw new AppError('storage_unavailable', 'webhooks are not configured on this server');
    return this.storage;
  }

  /**
   * Registers an endpoint for `events` (audit event types, or `*`) and returns it with its secret, which is
   * never shown again. The URL must pass the target check (see target-guard.ts): `validation_failed`,
   * `webhook_target_forbidden` or `webhook_target_unresolvable` otherwise. Events are delivered from the
   * org's audit chain as it stands now onward.
   */
  async create(
    orgId: string,
    input: { url: string; events: string[]; description?: string | null },
    actor?: string,
  ): Promise<CreatedWebhook> {
    const storage = this.store();
    const policy = {
      allowPrivate: this.config.allowPrivateTargets,
      allowHttp: this.config.allowHttp,
      ...(this.resolve ? { resolve: this.resolve } : {}),
    };
    const url = parseWebhookUrl(input.url, policy);
    await checkWebhookTarget(url, policy);
    const refusal = (await this.targetRefusal?.(orgId, url)) ?? null;
    if (refusal !== null) {
      throw new AppError('webhook_domain_not_verified', refusal, { details: { host: url.hostname } });
    }
    const existing = await storage.listEndpoints(orgId, { limit: MAX_WEBHOOKS_PER_ORG });
    if (existing.items.length >= MAX_WEBHOOKS_PER_ORG) {
      throw new AppError('conflict', `an org may register at most ${MAX_WEBHOOKS_PER_ORG} webhook endpoints`);
    }
    const head = await this.audit.getAuditHead(orgId);
    const now = this.clock.now();
    const id = newId(WEBHOOK_ID_PREFIX, now);
    const secret = generateWebhookSecret();
    const endpoint: WebhookEndpoint = {
      id,
      org_id: orgId,
      url: url.href,
      events: [...input.events],
      description: input.description ?? null,
      status: 'active',
      secret_ciphertext: this.box.seal(secret, secretAssociatedData(id)),
      secret_last4: secret.slice(-4),
      cursor_seq: head?.seq ?? 0,
      consecutive_failures: 0,
      disabled_at: null,
      created_at: isoTime(now),
      updated_at: isoTime(now),
      version: 0,
    };
    const drafts = this.draftsOf(
      orgId,
      'webhook.created',
      endpoint,
      { url: auditUrl(endpoint.url), events: endpoint.events },
      actor,
    );
    // The plan's webhook count is taken in one conditional write before the insert (concurrent registrations
    // on any number of servers never pass it) and given back when the insert fails.
    await this.quota?.acquire(orgId);
    try {
      await storage.insertEndpoint(endpoint, drafts);
    } catch (err) {
      await this.quota?.release(orgId);
      throw err;
    }
    return { ...webhookView(endpoint), secret };
  }

  /** An org's endpoints, newest first, secrets masked; filter: status. */
  async list(orgId: string, query: { limit: number; cursor?: string; status?: string }): Promise<Page<WebhookView>> {
    const page = await this.store().listEndpoints(orgId, query);
    return { items: page.items.map(webhookView), next_cursor: page.next_cursor };
  }

  /** One endpoint of the org; `not_found` otherwise. */
  async get(orgId: string, id: string): Promise<WebhookView> {
    const endpoint = await this.store().getEndpoint(orgId, id);
    if (!endpoint) throw new AppError('not_found', 'webhook endpoint not found');
    return webhookView(endpoint);
  }

  /** Deletes an endpoint of the org and its deliveries (pending ones are never sent); `not_found` otherwise. */
  async delete(orgId: string, id: string, actor?: string): Promise<WebhookView> {
    const storage = this.store();
    // The draft goes into the deletion's write, so it is built from the endpoint as read first (its URL
    // never changes); when the endpoint is gone by then, the deletion misses and stores no draft.
    const endpoint = await storage.getEndpoint(orgId, id);
    if (!endpoint) throw new AppError('not_found', 'webhook endpoint not found');
    const drafts = this.draftsOf(orgId, 'webhook.deleted', endpoint, { url: auditUrl(endpoint.url) }, actor);
    const deleted = await storage.deleteEndpoint(orgId, id, drafts);
    if (!deleted) throw new AppError('not_found', 'webhook endpoint not found');
    // Only the deletion that found the endpoint gives its place in the plan back.
    await this.quota?.release(orgId);
    return webhookView(deleted);
  }

  /** The delivery log of an endpoint of the org, newest event first; filter: status. */
  async deliveries(
    orgId: string,
    id: string,
    query: { limit: number; cursor?: string; status?: string },
  ): Promise<Page<WebhookDeliveryView>> {
    const storage = this.store();
    if (!(await storage.getEndpoint(orgId, id))) throw new AppError('not_found', 'webhook endpoint not found');
    const page = await storage.listDeliveries(orgId, id, query);
    return { items: page.items.map(deliveryView), next_cursor: page.next_cursor };
  }

  /** The audit drafts of a change, written by the storage call that makes it (undefined: audit is off). */
  private draftsOf(
    orgId: string,
    type: 'webhook.created' | 'webhook.deleted',
    endpoint: WebhookEndpoint,
    payload: Record<string, unknown>,
    actor: string | undefined,
  ): AuditDraft[] | undefined {
    const drafts = this.drafts({ orgId, type, endpointId: endpoint.id, payload, ...(actor ? { actor } : {}) });
    return drafts?.length ? drafts : undefined;
  }
}
