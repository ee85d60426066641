import type { AuditDraft } from '../audit/types.js';
import type { WebhookConfig } from '../config/index.js';
import type { SecretBox } from '../crypto/index.js';
import type { EngineLogger } from '../engine/index.js';
import {
  type AuditStorage,
  isStorageError,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookStorage,
} from '../storage/index.js';
import { BackgroundLoop } from '../util/background-loop.js';
import { type Clock, isoTime, systemClock } from '../util/clock.js';
import { backoffDelayMs, newDelivery, subscribes } from './deliveries.js';
import { createWebhookSender, type WebhookSender } from './sender.js';
import { SIGNATURE_HEADER, secretAssociatedData, signatureHeader } from './signing.js';

/**
 * What the dispatcher reads of the engine's store: the audit chain. Its own events (`webhook.disabled`) are
 * written by the webhook storage, atomically with the change, into the outbox of the same backend.
 */
export type AuditSource = Pick<AuditStorage, 'listAuditEvents'>;

/** Options of {@link WebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  webhooks: WebhookStorage;
  audit: AuditSource;
  /** Opens endpoint secrets (sealed with the master key). */
  box: SecretBox;
  config: WebhookConfig;
  clock?: Clock;
  logger?: EngineLogger;
  /** Sends one attempt. Default: HTTP(S) with the target checked against the config before each attempt. */
  sender?: WebhookSender;
  /** Jitter source, uniform in [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * The audit draft of `webhook.disabled` for an endpoint (as read before disabling it), or undefined to
   * write none. It is stored with the update that disables the endpoint.
   */
  disabledDraft?: (endpoint: WebhookEndpoint) => AuditDraft[] | undefined;
  /** Sent as User-Agent. */
  userAgent?: string;
  /**
   * Why the org's endpoint may not be sent to now (e.g. its host is outside the org's verified domains while
   * the org allows only those), or null. Asked before every attempt; a refusal is a failed attempt, not sent.
   */
  targetRefusal?: (orgId: string, url: URL) => Promise<string | null>;
}

/** What one pass did. */
export interface DispatchPass {
  /** Deliveries created from new events. */
  fannedOut: number;
  /** Attempts made (successful or not). */
  attempted: number;
}

/** Events read per query while fanning out. */
const EVENT_BATCH = 200;
/** Endpoints read per page in a full fan-out. */
const ENDPOINT_PAGE = 100;
/** Due deliveries leased per pass. */
const DUE_BATCH = 100;
/** A lease outlives the attempt's own deadline by this much before another dispatcher may retry it. */
const LEASE_MARGIN_MS = 30_000;

const silent: EngineLogger = { info() {}, warn() {}, error() {} };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Delivers every org's audit events to its webhook endpoints, from a persisted outbox.
 *
 * Fan-out: each active endpoint keeps a cursor into its org's audit chain. A pass reads the events after it,
 * inserts one delivery per subscribed event (insert-if-absent with an id derived from endpoint and event,
 * so a crash or a second dispatcher never creates one twice), then moves the cursor with a compare-and-set.
 *
 * Delivery: due deliveries are leased (compare-and-set on their version, so of several dispatchers one
 * attempts each), signed with the endpoint's secret and POSTed. 2xx is delivered; anything else is retried
 * after an exponential backoff with full jitter until `maxAttempts`, then `failed`. A lease that expires
 * (a crash mid-attempt) makes the delivery due again. An endpoint whose deliveries fail
 * `disableAfterFailures` times in a row is disabled (audit event `webhook.disabled`); a delivered one resets
 * the count. Deliveries are at least once and in no guaranteed order: receivers deduplicate by event id.
 *
 * Runs in the background from {@link start} to {@link stop}, woken by {@link notify} when events were linked
 * and by a poll otherwise (events linked by other servers, due retries). Any number of dispatchers may share
 * one storage.
 */
export class WebhookDispatcher {
  private readonly webhooks: WebhookStorage;
  private readonly audit: AuditSource;
  private readonly box: SecretBox;
  private readonly config: WebhookConfig;
  private readonly clock: Clock;
  private readonly logger: EngineLogger;
  private readonly send: WebhookSender;
  private readonly random: () => number;
  private readonly disabledDraft: WebhookDispatcherOptions['disabledDraft'];
  private readonly userAgent: string;
  private readonly targetRefusal: WebhookDispatcherOptions['targetRefusal'];
  private readonly dirtyOrgs = new Set<string>();
  private readonly loop: BackgroundLoop<DispatchPass> = new BackgroundLoop({
    pass: () => this.pass(false),
    nextDelay: (pass) => (pass.fannedOut > 0 || pass.attempted > 0 ? 0 : this.idleDelay()),
    onError: (err) => {
      this.logger.error('webhook_dispatch_failed', { error: String(err) });
      return this.config.pollIntervalMs;
    },
  });
  private lastFullPassAt = Number.NEGATIVE_INFINITY;
  /** The earliest retry this dispatcher scheduled and has not yet reached. */
  private nextRetryAt = Number.POSITIVE_INFINITY;

  constructor(options: WebhookDispatcherOptions) {
    this.webhooks = options.webhooks;
    this.audit = options.audit;
    this.box = options.box;
    this.config = options.config;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silent;
    this.send =
      options.sender ??
      createWebhookSender({ allowPrivate: options.config.allowPrivateTargets, allowHttp: options.config.allowHttp });
    this.random = options.random ?? Math.random;
    this.disabledDraft = options.disabledDraft;
    this.userAgent = options.userAgent ?? 'Allowance-Webhooks/1';
    this.targetRefusal = options.targetRefusal;
  }

  /** Starts delivering in the background until {@link stop}. */
  start(): void {
    this.loop.start();
  }

  /** Stops the background loop and waits for a pass in progress (its attempts included). */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** New events were linked in `orgId` (the chainer's listener): fan them out soon. */
  notify(orgId: string): void {
    this.dirtyOrgs.add(orgId);
    this.loop.schedule(0);
  }

  /**
   * One pass: fan out new events (of every org when `full` or when a poll interval has passed since the last
   * full pass, else of the orgs {@link notify} named), then attempt due deliveries. Passes never overlap.
   */
  runOnce(options: { full?: boolean } = {}): Promise<DispatchPass> {
    return this.loop.runOnce(() => this.pass(options.full === true));
  }

  /**
   * Runs passes until every event is fanned out and no delivery is pending (waiting for due retries in
   * between): for tests and tools. Throws when that takes longer than `timeoutMs` (default 30 s).
   */
  async drain(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const pass = await this.runOnce({ full: true });
      if (pass.fannedOut > 0 || pass.attempted > 0) continue;
      const next = await this.webhooks.nextDeliveryDueAt();
      if (next === null) return;
      if (Date.now() > deadline) throw new Error(`webhook deliveries still pending after the drain deadline`);
      await sleep(Math.min(100, Math.max(1, Date.parse(next) - this.clock.now())));
    }
  }

  /** Until the next poll, or sooner when a retry this dispatcher scheduled comes due. */
  private idleDelay(): number {
    const untilRetry = this.nextRetryAt - this.clock.now();
    return Math.max(0, Math.min(this.config.pollIntervalMs, untilRetry));
  }

  private async pass(forceFull: boolean): Promise<DispatchPass> {
    const now = this.clock.now();
    const full = forceFull || now - this.lastFullPassAt >= this.config.pollIntervalMs;
    const orgs = [...this.dirtyOrgs];
    this.dirtyOrgs.clear();
    let fannedOut = 0;
    if (full) {
      this.lastFullPassAt = now;
      fannedOut = await this.fanOutAll();
    } else {
      for (const orgId of orgs) fannedOut += await this.fanOutOrg(orgId);
    }
    if (this.nextRetryAt <= this.clock.now()) this.nextRetryAt = Number.POSITIVE_INFINITY;
    const attempted = await this.deliverDue();
    return { fannedOut, attempted };
  }

  private async fanOutAll(): Promise<number> {
    let total = 0;
    let after: string | null = null;
    for (;;) {
      const page = await this.webhooks.listActiveEndpoints(after, ENDPOINT_PAGE);
      for (const endpoint of page) total += await this.fanOutEndpoint(endpoint);
      if (page.length < ENDPOINT_PAGE) return total;
      after = (page[page.length - 1] as WebhookEndpoint).id;
    }
  }

  private async fanOutOrg(orgId: string): Promise<number> {
    let total = 0;
    let cursor: string | undefined;
    do {
      const page = await this.webhooks.listEndpoints(orgId, {
        limit: ENDPOINT_PAGE,
        status: 'active',
        ...(cursor ? { cursor } : {}),
      });
      for (const endpoint of page.items) total += await this.fanOutEndpoint(endpoint);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return total;
  }

  /** Creates the deliveries of the events after the endpoint's cursor and moves it; returns how many. */
  private async fanOutEndpoint(endpoint: WebhookEndpoint): Promise<number> {
    let created = 0;
    let cursor = endpoint.cursor_seq;
    try {
      for (;;) {
        const events = await this.audit.listAuditEvents(endpoint.org_id, { after_seq: cursor, limit: EVENT_BATCH });
        if (events.length === 0) return created;
        const now = this.clock.now();
        const deliveries = events.filter((e) => subscribes(endpoint, e.type)).map((e) => newDelivery(endpoint, e, now));
        if (deliveries.length > 0) created += await this.webhooks.insertDeliveries(deliveries);
        const last = (events[events.length - 1] as { seq: number }).seq;
        // Lost to another dispatcher (or the endpoint went away): whoever moved it carries on from there.
        if (!(await this.webhooks.advanceEndpointCursor(endpoint.org_id, endpoint.id, cursor, last))) return created;
        cursor = last;
        if (events.length < EVENT_BATCH) return created;
      }
    } catch (err) {
      this.logger.error('webhook_fan_out_failed', { endpoint_id: endpoint.id, error: String(err) });
      return created;
    }
  }

  private async deliverDue(): Promise<number> {
    const due = await this.webhooks.listDueDeliveries(isoTime(this.clock.now()), DUE_BATCH);
    if (due.length === 0) return 0;
    let attempted = 0;
    let index = 0;
    const worker = async () => {
      while (index < due.length) {
        const delivery = due[index++] as WebhookDelivery;
        try {
          if (await this.attempt(delivery)) attempted++;
        } catch (err) {
          this.logger.error('webhook_delivery_failed', { delivery_id: delivery.id, error: String(err) });
        }
      }
    };
    const workers = Math.max(1, Math.min(this.config.concurrency, due.length));
    await Promise.all(Array.from({ length: workers }, worker));
    return attempted;
  }

  /** Leases one due delivery and attempts it; false when another dispatcher got it first. */
  private async attempt(due: WebhookDelivery): Promise<boolean> {
    const leasedAt = this.clock.now();
    let leased: WebhookDelivery | null;
    try {
      leased = await this.webhooks.updateDelivery(due.id, due.version, {
        status: 'delivering',
        attempts: due.attempts + 1,
        next_attempt_at: isoTime(leasedAt + this.config.timeoutMs + LEASE_MARGIN_MS),
        updated_at: isoTime(leasedAt),
      });
    } catch (err) {
      if (isStorageError(err, 'conflict')) return false;
      throw err;
    }
    if (!leased) return false;

    // Read for every attempt, so an endpoint disabled or deleted a moment ago gets nothing more.
    const endpoint = await this.webhooks.getEndpoint(leased.org_id, leased.endpoint_id);
    if (endpoint?.status !== 'active') {
      // Deleted or disabled since the delivery was created: nothing is sent, and it is not the endpoint's failure.
      await this.finish(leased, {
        status: 'failed',
        attempts: due.attempts,
        next_attempt_at: null,
        updated_at: isoTime(this.clock.now()),
      });
      return false;
    }

    const attemptAt = this.clock.now();
    const body = JSON.stringify(leased.payload);
    let result: { ok: boolean; statusCode: number | null; error: string | null; durationMs: number };
    const refusal = await this.refusalOf(endpoint);
    if (refusal !== null) {
      result = { ok: false, statusCode: null, error: `not sent: ${refusal}`.slice(0, 300), durationMs: 0 };
    } else {
      try {
        const secret = this.box.open(endpoint.secret_ciphertext, secretAssociatedData(endpoint.id));
        result = await this.send({
          url: new URL(endpoint.url),
          body,
          timeoutMs: this.config.timeoutMs,
          headers: {
            'Content-Type': 'application/json',
            'User-Agent': this.userAgent,
            [SIGNATURE_HEADER]: signatureHeader(secret, Math.floor(attemptAt / 1000), body),
            'Allowance-Event-Id': leased.event_id,
            'Allowance-Event-Type': leased.event_type,
            'Allowance-Delivery-Id': leased.id,
            'Allowance-Delivery-Attempt': String(leased.attempts),
          },
        });
      } catch (err) {
        result = { ok: false, statusCode: null, error: `cannot send: ${String(err)}`.slice(0, 300), durationMs: 0 };
      }
    }
    const entry: WebhookAttempt = {
      at: isoTime(attemptAt),
      status_code: result.statusCode,
      error: result.error,
      duration_ms: result.durationMs,
    };
    const doneAt = this.clock.now();
    const log = [...leased.attempt_log, entry];
    let outcome: 'delivered' | 'failed' | null = null;
    let patch: Partial<WebhookDelivery>;
    if (result.ok) {
      outcome = 'delivered';
      patch = { status: 'delivered', delivered_at: isoTime(doneAt), next_attempt_at: null };
    } else if (leased.attempts >= this.config.maxAttempts) {
      outcome = 'failed';
      patch = { status: 'failed', next_attempt_at: null };
    } else {
      const retryAt = doneAt + backoffDelayMs(leased.attempts, this.backoff(), this.random);
      this.nextRetryAt = Math.min(this.nextRetryAt, retryAt);
      patch = { status: 'pending', next_attempt_at: isoTime(retryAt) };
    }
    const finished = await this.finish(leased, { ...patch, attempt_log: log, updated_at: isoTime(doneAt) });
    if (finished && outcome) await this.recordOutcome(endpoint, outcome, isoTime(doneAt));
    return true;
  }

  /** Why the endpoint may not be sent to now, or null; a check that fails refuses this attempt too. */
  private async refusalOf(endpoint: WebhookEndpoint): Promise<string | null> {
    if (!this.targetRefusal) return null;
    try {
      return await this.targetRefusal(endpoint.org_id, new URL(endpoint.url));
    } catch (err) {
      return `cannot check the target: ${String(err)}`;
    }
  }

  private backoff(): { baseMs: number; capMs: number } {
    return { baseMs: this.config.backoffBaseMs, capMs: this.config.backoffCapMs };
  }

  /** Ends a lease; false when it was lost (expired and taken by another dispatcher). */
  private async finish(leased: WebhookDelivery, patch: Partial<WebhookDelivery>): Promise<boolean> {
    try {
      return (await this.webhooks.updateDelivery(leased.id, leased.version, patch)) !== null;
    } catch (err) {
      if (!isStorageError(err, 'conflict')) throw err;
      this.logger.warn('webhook_lease_lost', { delivery_id: leased.id });
      return false;
    }
  }

  private async recordOutcome(endpoint: WebhookEndpoint, outcome: 'delivered' | 'failed', at: string): Promise<void> {
    let current = await this.webhooks.recordEndpointOutcome(endpoint.org_id, endpoint.id, outcome, at);
    for (let tries = 0; tries < 5; tries++) {
      if (current?.status !== 'active' || current.consecutive_failures < this.config.disableAfterFailures) return;
      try {
        // Built from the version read: the update below changes neither the id nor the failure count.
        const drafts = this.disabledDraft?.(current);
        const disabled = await this.webhooks.updateEndpoint(
          current.org_id,
          current.id,
          current.version,
          { status: 'disabled', disabled_at: at, updated_at: at },
          drafts?.length ? drafts : undefined,
        );
        if (!disabled) return;
        this.logger.warn('webhook_disabled', {
          org_id: disabled.org_id,
          endpoint_id: disabled.id,
          consecutive_failures: disabled.consecutive_failures,
        });
        return;
      } catch (err) {
        if (!isStorageError(err, 'conflict')) throw err;
        current = await this.webhooks.getEndpoint(endpoint.org_id, endpoint.id);
      }
    }
  }
}
