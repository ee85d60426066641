import type { StorageAdapter } from '../storage/index.js';
import { BackgroundLoop } from '../util/background-loop.js';
import { isoTime } from '../util/clock.js';
import { auditHash } from './hash.js';
import { type AuditDraft, type AuditEvent, GENESIS_HASH } from './types.js';

/** Structured log sink of the chainer. */
export interface ChainerLogger {
  warn(event: string, fields: Record<string, unknown>): void;
  error(event: string, fields: Record<string, unknown>): void;
}

/** Options of {@link AuditChainer}. */
export interface AuditChainerOptions {
  store: StorageAdapter;
  /** Milliseconds since the epoch; stamps `linked_at`. Default Date.now. */
  now?: () => number;
  logger?: ChainerLogger;
  /** Pause between passes while the outbox is empty. Default 50 ms. */
  intervalMs?: number;
  /** Drafts read per pass. Default 500. */
  batchSize?: number;
}

/** Called after events of an org were linked, with the new head seq (webhook delivery listens). */
export type LinkedListener = (orgId: string, headSeq: number) => void;

const MAX_CONFLICT_RETRIES = 8;

function isConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'conflict';
}

/**
 * Links audit drafts from the store's outbox into each org's hash chain, in the background, so the
 * request that made a change pays only for writing its draft (atomically with the change).
 *
 * Safe with any number of chainers on one store (several servers): an event is appended on top of the head
 * it read; a taken seq or id is a `conflict`, after which the chainer reads the head again and drops drafts
 * another chainer already linked. A crash between linking and acknowledging leaves drafts in the outbox
 * that the next pass recognizes as linked and only acknowledges, so no event is lost or linked twice.
 */
export class AuditChainer {
  private readonly store: StorageAdapter;
  private readonly now: () => number;
  private readonly logger: ChainerLogger | undefined;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly listeners = new Set<LinkedListener>();
  private readonly loop: BackgroundLoop<number> = new BackgroundLoop({
    pass: () => this.pass(),
    // A full batch means more is waiting: go on at once. Otherwise wait, so that under steady load a
    // pass links many drafts at once instead of one or two (its fixed cost is several store calls).
    nextDelay: (n) => (n >= this.batchSize ? 0 : this.intervalMs),
    onError: (err) => {
      this.logger?.error('audit_chain_failed', { error: String(err) });
      return this.intervalMs * 10;
    },
  });

  constructor(options: AuditChainerOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.intervalMs = options.intervalMs ?? 50;
    this.batchSize = options.batchSize ?? 500;
  }

  /** Subscribes to linked heads; returns the unsubscribe function. */
  onLinked(listener: LinkedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts linking in the background until {@link stop}. */
  start(): void {
    this.loop.start();
  }

  /** Stops the background loop and waits for a pass in progress. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Links until the outbox is empty (or only holds drafts that cannot be linked); returns how many. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.runOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  /** One pass over at most `batchSize` drafts; returns how many events it linked. Passes never overlap. */
  runOnce(): Promise<number> {
    return this.loop.runOnce();
  }

  private async pass(): Promise<number> {
    const drafts = await this.store.listAuditOutbox(this.batchSize);
    if (drafts.length === 0) return 0;
    const byOrg = new Map<string, AuditDraft[]>();
    for (const d of drafts) {
      let list = byOrg.get(d.org_id);
      if (!list) {
        list = [];
        byOrg.set(d.org_id, list);
      }
      list.push(d);
    }
    let linked = 0;
    for (const [orgId, list] of byOrg) linked += await this.linkOrg(orgId, list);
    return linked;
  }

  private async linkOrg(orgId: string, drafts: AuditDraft[]): Promise<number> {
    let pending = drafts;
    for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt++) {
      const already = new Set(
        await this.store.findLinkedAuditIds(
          orgId,
          pending.map((d) => d.id),
        ),
      );
      if (already.size > 0) {
        await this.store.ackAuditOutbox(pending.filter((d) => already.has(d.id)));
        pending = pending.filter((d) => !already.has(d.id));
      }
      if (pending.length === 0) return 0;
      const head = await this.store.getAuditHead(orgId);
      const { events, linkable } = this.build(orgId, head, pending);
      if (events.length === 0) return 0;
      try {
        await this.store.appendAuditEvents(orgId, events);
      } catch (err) {
        if (!isConflict(err)) throw err;
        continue;
      }
      await this.store.ackAuditOutbox(linkable);
      const last = events[events.length - 1] as AuditEvent;
      for (const l of this.listeners) {
        try {
          l(orgId, last.seq);
        } catch (err) {
          this.logger?.error('audit_listener_failed', { error: String(err) });
        }
      }
      return events.length;
    }
    this.logger?.warn('audit_chain_contended', { org_id: orgId, retries: MAX_CONFLICT_RETRIES });
    return 0;
  }

  private build(
    orgId: string,
    head: AuditEvent | null,
    drafts: AuditDraft[],
  ): { events: AuditEvent[]; linkable: AuditDraft[] } {
    let seq = head?.seq ?? 0;
    let prev = head?.hash ?? GENESIS_HASH;
    const linkedAt = isoTime(this.now());
    const events: AuditEvent[] = [];
    const linkable: AuditDraft[] = [];
    for (const d of drafts) {
      const body = {
        id: d.id,
        org_id: orgId,
        seq: seq + 1,
        at: d.at,
        type: d.type,
        actor: d.actor,
        subject: { kind: d.subject.kind, id: d.subject.id },
        agent_id: d.agent_id ?? null,
        payload: d.payload,
        prev_hash: prev,
      };
      let hash: string;
      try {
        hash = auditHash(body);
      } catch (err) {
        // A draft that cannot be hashed stays in the outbox (and is reported) rather than breaking the chain.
        this.logger?.error('audit_draft_invalid', { org_id: orgId, id: d.id, error: String(err) });
        break;
      }
      events.push({ ...body, hash, linked_at: linkedAt });
      linkable.push(d);
      seq += 1;
      prev = hash;
    }
    return { events, linkable };
  }
}
