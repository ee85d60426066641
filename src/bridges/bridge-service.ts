import type { SecretBox } from '../crypto/index.js';
import type { Engine } from '../engine/index.js';
import { AppError, isAppError } from '../errors/index.js';

/** Limits store reads that find nothing: `beforeRead` throws when the caller's budget is spent. */
export interface ReadGuard {
  beforeRead(): void;
  onMiss(): void;
}

import {
  compileValidator,
  registerLithicAsaBridgeSchema,
  registerStripeIssuingBridgeSchema,
  rotateBridgeSecretSchema,
  rotateLithicBridgeSecretSchema,
} from '../schemas/index.js';
import type { BridgeKind, BridgeRecord, BridgeSecret, BridgeStorage } from '../storage/index.js';
import { isStorageError } from '../storage/index.js';
import type { Decision } from '../types.js';
import { type Clock, isoTime } from '../util/clock.js';
import { newId } from '../util/ids.js';
import { jsonTextTooDeep } from '../util/json-depth.js';
import {
  type BridgeSettlement,
  type LithicAnswer,
  type LithicSignatureHeaders,
  lithicAnswer,
  lithicAuthorizeBody,
  lithicForeignCardAnswer,
  lithicSettlements,
  parseLithicAsaRequest,
  parseLithicTransactionEvent,
  verifyLithicSignature,
} from './lithic-asa.js';
import {
  parseStripeAuthorization,
  parseStripeEvent,
  parseStripeTransaction,
  STRIPE_DEFAULT_API_VERSION,
  type StripeAnswer,
  type StripeAuthorization,
  stripeAnswer,
  stripeAuthorizeBody,
  stripeForeignCardAnswer,
  verifyStripeSignature,
} from './stripe-issuing.js';

/** How long a bridge read from the store may take on the processor's call before the cached one is used. */
export const BRIDGE_READ_BUDGET_MS = 250;
/** How long a bridge (or its absence) is used before it is read again. */
const BRIDGE_CACHE_MS = 5_000;
/** How long a cached bridge may serve a call while the store does not answer. */
const BRIDGE_STALE_MS = 10 * 60_000;
/** Most orgs whose bridge (or its absence) is cached; the oldest entry goes first. */
const BRIDGE_CACHE_MAX = 10_000;
/** The time budget of a follow-up event's capture or reversal (Stripe retries a 503 later). */
export const FOLLOW_UP_BUDGET_MS = 5_000;
/** Largest processor event accepted. */
export const MAX_EVENT_BYTES = 256 * 1024;

const ACTOR = 'bridge:stripe_issuing';
const LITHIC_ACTOR = 'bridge:lithic_asa';
const STRIPE: BridgeKind = 'stripe_issuing';
/** The statuses of a Lithic transaction after which no more clearings settle against its hold. */
const LITHIC_CLOSED = new Set(['SETTLED', 'VOIDED', 'EXPIRED', 'DECLINED']);

/** What differs between processors' registrations: the secret's format, the route, the name in errors. */
const KINDS: Record<BridgeKind, { name: string; path: string }> = {
  stripe_issuing: { name: 'Stripe Issuing', path: 'stripe-issuing' },
  lithic_asa: { name: 'Lithic ASA', path: 'lithic-asa' },
  lithic_events: { name: 'Lithic transaction events', path: 'lithic-events' },
};

interface RegisterBody {
  processor_id: string;
  signing_secret: string;
}
interface RotateBody {
  signing_secret: string;
  grace_seconds: number;
}
const validateRegister: Record<BridgeKind, (body: unknown) => RegisterBody> = {
  stripe_issuing: compileValidator<RegisterBody>(registerStripeIssuingBridgeSchema),
  lithic_asa: compileValidator<RegisterBody>(registerLithicAsaBridgeSchema),
  lithic_events: compileValidator<RegisterBody>(registerLithicAsaBridgeSchema),
};
const validateRotate: Record<BridgeKind, (body: unknown) => RotateBody> = {
  stripe_issuing: compileValidator<RotateBody>(rotateBridgeSecretSchema),
  lithic_asa: compileValidator<RotateBody>(rotateLithicBridgeSecretSchema),
  lithic_events: compileValidator<RotateBody>(rotateLithicBridgeSecretSchema),
};

/** A bridge as the API shows it. */
export interface BridgeView {
  org_id: string;
  processor: BridgeKind;
  processor_id: string;
  webhook_path: string;
  secrets: { id: string; last4: string; created_at: string; expires_at: string | null }[];
  created_at: string;
  updated_at: string;
}

/** What the Lithic route answers. */
export interface LithicReply {
  body: LithicAnswer;
}

/** What the route answers: the body, and the `Stripe-Version` header on decisions. */
export interface BridgeReply {
  body: StripeAnswer | { received: true; outcome: string };
  stripeVersion?: string;
}

interface Cached {
  record: BridgeRecord | null;
  secrets: { plaintext: string; expiresAt: number | null }[];
  readAt: number;
}

/** Rejects with `storage_unavailable` when `work` takes longer than `ms` (the work itself is not cancelled). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AppError('storage_unavailable', 'the store did not answer within the time budget')),
      ms,
    );
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
}

/** Cached bridges are keyed by org and processor. */
const cacheKey = (orgId: string, kind: BridgeKind) => `${orgId}/${kind}`;

function view(r: BridgeRecord): BridgeView {
  return {
    org_id: r.org_id,
    processor: r.kind,
    processor_id: r.processor_id,
    webhook_path: `/v1/bridges/${KINDS[r.kind].path}/${r.org_id}`,
    secrets: r.secrets.map((s) => ({ id: s.id, last4: s.last4, created_at: s.created_at, expires_at: s.expires_at })),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/**
 * Card-processor bridges: registration of an org's processor signing secret (sealed under the master key,
 * never shown again, rotatable with a grace period) and the processor's calls, verified, mapped to the
 * engine's authorize, capture and reverse, and answered in the processor's format.
 */
export class BridgeService {
  private readonly cache = new Map<string, Cached>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(
    private readonly engine: Engine,
    private readonly storage: BridgeStorage | null,
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  private need(): BridgeStorage {
    if (!this.storage) throw new AppError('storage_unavailable', 'this server keeps no bridge storage');
    return this.storage;
  }

  private associated(orgId: string, kind: BridgeKind, secretId: string): string {
    return `${orgId}/${kind}/${secretId}`;
  }

  private sealed(orgId: string, kind: BridgeKind, secret: string, nowMs: number): BridgeSecret {
    const id = newId('bsk', nowMs);
    return {
      id,
      ciphertext: this.box.seal(secret, this.associated(orgId, kind, id)),
      last4: secret.slice(-4),
      created_at: isoTime(nowMs),
      expires_at: null,
    };
  }

  /**
   * The audit draft of a bridge change, stored by the storage call that makes it (undefined: audit is off).
   * It names the secrets by id only: never a secret, its ciphertext or its last characters.
   */
  private drafts(
    orgId: string,
    kind: BridgeKind,
    type: 'bridge.registered' | 'bridge.secret_rotated' | 'bridge.deleted',
    payload: Record<string, unknown>,
    actor: string | undefined,
  ): ReturnType<Engine['auditDraft']> {
    const drafts = this.engine.auditDraft({
      orgId,
      type,
      subject: { kind: 'bridge', id: `${orgId}/${kind}` },
      agentId: null,
      payload: { processor: kind, ...payload },
      actor,
      atMs: this.clock.now(),
    });
    return drafts?.length ? drafts : undefined;
  }

  /** Connects the org's processor account of `kind`: the bridge acts as `processor_id` (which must be active). */
  async register(orgId: string, body: unknown, kind: BridgeKind = STRIPE, actor?: string): Promise<BridgeView> {
    const storage = this.need();
    const input = validateRegister[kind](structuredClone(body));
    const processor = await this.engine.getProcessor(input.processor_id);
    if (processor?.status !== 'active') {
      throw new AppError('validation_failed', '/processor_id is not an active processor', {
        details: [{ path: '/processor_id', message: 'is not an active processor' }],
      });
    }
    const now = this.clock.now();
    const record: BridgeRecord = {
      org_id: orgId,
      kind,
      processor_id: input.processor_id,
      secrets: [this.sealed(orgId, kind, input.signing_secret, now)],
      created_at: isoTime(now),
      updated_at: isoTime(now),
      version: 1,
    };
    const events = this.drafts(
      orgId,
      kind,
      'bridge.registered',
      { processor_id: record.processor_id, secret_id: (record.secrets[0] as BridgeSecret).id },
      actor,
    );
    try {
      await storage.create(record, events);
    } catch (err) {
      if (isStorageError(err, 'conflict')) {
        throw new AppError(
          'conflict',
          `the org already has a ${KINDS[kind].name} bridge; rotate its secret or delete it`,
        );
      }
      throw err;
    }
    this.cache.delete(cacheKey(orgId, kind));
    return view(record);
  }

  async get(orgId: string, kind: BridgeKind = STRIPE): Promise<BridgeView> {
    const record = await this.need().get(orgId, kind);
    if (!record) throw new AppError('not_found', `the org has no ${KINDS[kind].name} bridge`);
    return view(record);
  }

  /**
   * Makes `signing_secret` the current secret; the one it replaces is still accepted for `grace_seconds`
   * (secrets already past their grace are dropped). A compare-and-set: a concurrent change is `conflict`.
   */
  async rotate(orgId: string, body: unknown, kind: BridgeKind = STRIPE, actor?: string): Promise<BridgeView> {
    const storage = this.need();
    const input = validateRotate[kind](structuredClone(body));
    const current = await storage.get(orgId, kind);
    if (!current) throw new AppError('not_found', `the org has no ${KINDS[kind].name} bridge`);
    const now = this.clock.now();
    const graceEnd = isoTime(now + input.grace_seconds * 1000);
    const kept = current.secrets
      .map((s) => (s.expires_at === null ? { ...s, expires_at: graceEnd } : s))
      .filter((s) => s.expires_at !== null && Date.parse(s.expires_at) > now);
    const next: BridgeRecord = {
      ...current,
      secrets: [this.sealed(orgId, kind, input.signing_secret, now), ...kept],
      updated_at: isoTime(now),
      version: current.version + 1,
    };
    const events = this.drafts(
      orgId,
      kind,
      'bridge.secret_rotated',
      {
        processor_id: next.processor_id,
        secret_id: (next.secrets[0] as BridgeSecret).id,
        // The secrets still accepted beside the new one, until when; those past their grace are dropped.
        previous: kept.map((k) => ({ id: k.id, expires_at: k.expires_at })),
        dropped: current.secrets.filter((c) => !kept.some((k) => k.id === c.id)).map((c) => c.id),
      },
      actor,
    );
    if (!(await storage.replace(next, current.version, events))) {
      throw new AppError('conflict', 'the bridge changed concurrently; read it and retry');
    }
    this.cache.delete(cacheKey(orgId, kind));
    return view(next);
  }

  /**
   * Disconnects the org's bridge of `kind`. The audit draft goes into the deletion's write, so it is built from
   * the record as read first; when the record is gone by then, the deletion misses and stores no draft.
   */
  async remove(orgId: string, kind: BridgeKind = STRIPE, actor?: string): Promise<void> {
    const storage = this.need();
    const current = await storage.get(orgId, kind);
    if (!current) throw new AppError('not_found', `the org has no ${KINDS[kind].name} bridge`);
    const events = this.drafts(
      orgId,
      kind,
      'bridge.deleted',
      { processor_id: current.processor_id, secret_ids: current.secrets.map((x) => x.id) },
      actor,
    );
    if (!(await storage.delete(orgId, kind, events)))
      throw new AppError('not_found', `the org has no ${KINDS[kind].name} bridge`);
    this.cache.delete(cacheKey(orgId, kind));
  }

  /**
   * The bridge of `orgId` for a processor call. A cached copy is used at once: while fresh as it is, and up to
   * BRIDGE_STALE_MS old while one read (within BRIDGE_READ_BUDGET_MS) refreshes it in the background, so a
   * slow store never delays the answer of a known bridge. Without a usable copy the call waits for that read.
   */
  private async load(orgId: string, kind: BridgeKind, guard?: ReadGuard): Promise<Cached | null> {
    const now = this.clock.now();
    const cached = this.cache.get(cacheKey(orgId, kind));
    if (cached && now - cached.readAt < BRIDGE_CACHE_MS) return cached;
    if (cached && now - cached.readAt < BRIDGE_STALE_MS) {
      this.refresh(orgId, kind);
      return cached;
    }
    guard?.beforeRead();
    const read = await this.read(orgId, kind);
    if (!read.record) guard?.onMiss();
    return read;
  }

  private readonly refreshing = new Set<string>();

  private refresh(orgId: string, kind: BridgeKind): void {
    const key = cacheKey(orgId, kind);
    if (this.refreshing.has(key)) return;
    this.refreshing.add(key);
    this.inBackground(this.read(orgId, kind).finally(() => this.refreshing.delete(key)));
  }

  private async read(orgId: string, kind: BridgeKind): Promise<Cached> {
    const now = this.clock.now();
    const record = await within(this.need().get(orgId, kind), BRIDGE_READ_BUDGET_MS);
    const secrets: Cached['secrets'] = [];
    for (const s of record?.secrets ?? []) {
      try {
        secrets.push({
          plaintext: this.box.open(s.ciphertext, this.associated(orgId, kind, s.id)),
          expiresAt: s.expires_at === null ? null : Date.parse(s.expires_at),
        });
      } catch {
        // A secret sealed under a master key this server does not hold cannot verify anything.
      }
    }
    const fresh: Cached = { record, secrets, readAt: now };
    const key = cacheKey(orgId, kind);
    this.cache.delete(key);
    if (this.cache.size >= BRIDGE_CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, fresh);
    return fresh;
  }

  /** Settles when background work is done: reversals of declined answers' holds and bridge refreshes. */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private inBackground(work: Promise<unknown>): void {
    const p = work.catch(() => {});
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /**
   * A call of Stripe to `/v1/bridges/stripe-issuing/:org_id`: the signature is checked first (401
   * `bridge_signature_invalid`, nothing decided, when it is missing, wrong, too old or the org has no bridge),
   * then the event is handled. `guard` limits the store reads of orgs this server holds no bridge of (per
   * client address, as for unknown key ids): once spent, such calls are 429 `rate_limited`.
   */
  async handleStripe(
    orgId: string,
    payload: Buffer,
    signature: string | undefined,
    guard?: ReadGuard,
    /** When the request was received (`performance.now()` ms): the engine's deadline counts from there. */
    receivedAt?: number,
  ): Promise<BridgeReply> {
    const bridge = await this.load(orgId, STRIPE, guard);
    const now = this.clock.now();
    const secrets = (bridge?.secrets ?? [])
      .filter((s) => s.expiresAt === null || s.expiresAt > now)
      .map((s) => s.plaintext);
    const record = bridge?.record;
    if (!record || !verifyStripeSignature(payload, signature, secrets, now)) {
      throw new AppError('bridge_signature_invalid', 'the Stripe-Signature header does not verify');
    }
    const text = payload.toString('utf8');
    if (jsonTextTooDeep(text)) throw new AppError('nesting_too_deep', 'the event nests too deep');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('malformed_request', 'the event is not valid JSON');
    }
    const event = parseStripeEvent(json);
    switch (event.type) {
      case 'issuing_authorization.request': {
        const auth = parseStripeAuthorization(event.data.object);
        return {
          body: await this.decide(record, auth, receivedAt),
          stripeVersion: event.api_version ?? STRIPE_DEFAULT_API_VERSION,
        };
      }
      case 'issuing_authorization.created':
      case 'issuing_authorization.updated': {
        const auth = parseStripeAuthorization(event.data.object);
        const closed =
          auth.approved === false ||
          auth.status === 'reversed' ||
          auth.status === 'expired' ||
          auth.status === 'closed';
        if (!closed) return { body: { received: true, outcome: 'ignored' } };
        return { body: { received: true, outcome: await this.followUp(record, auth.id, [], true) } };
      }
      case 'issuing_transaction.created': {
        const tx = parseStripeTransaction(event.data.object);
        if (!tx.authorization || tx.amount === 0 || (tx.type !== 'capture' && tx.type !== 'refund')) {
          return { body: { received: true, outcome: 'ignored' } };
        }
        // Stripe closes an authorization at its first capture; later captures of it settle on their own.
        const settlement: BridgeSettlement = { type: tx.type, id: tx.id, amount: Math.abs(tx.amount) };
        return {
          body: {
            received: true,
            outcome: await this.followUp(record, tx.authorization, [settlement], tx.type === 'capture'),
          },
        };
      }
      default:
        return { body: { received: true, outcome: 'ignored' } };
    }
  }

  /**
   * An Auth Stream Access call of Lithic to `/v1/bridges/lithic-asa/:org_id`: the Standard Webhooks signature
   * is checked first (401 `bridge_signature_invalid`, nothing decided, when it is missing, wrong, too old or the
   * org has no Lithic bridge), then the authorization is decided through the engine's authorize (its deadline
   * and stand-in) and answered with Lithic's `result` and, for a partial approval, `approved_amount`.
   */
  async handleLithic(
    orgId: string,
    payload: Buffer,
    headers: LithicSignatureHeaders,
    guard?: ReadGuard,
    receivedAt?: number,
  ): Promise<LithicReply> {
    const { record, json } = await this.verifiedLithic('lithic_asa', orgId, payload, headers, guard);
    const req = parseLithicAsaRequest(json);
    const decision: Decision = await this.engine.authorize(
      record.processor_id,
      lithicAuthorizeBody(req),
      LITHIC_ACTOR,
      receivedAt === undefined ? undefined : { receivedAt },
    );
    const foreign =
      (decision.org_id !== null && decision.org_id !== record.org_id) ||
      decision.reason_codes.includes('processor_mismatch');
    const answer = foreign
      ? lithicForeignCardAnswer(req.token)
      : lithicAnswer(req.token, decision, req.pos?.terminal?.partial_approval_capable === true);
    // A hold of an approval Lithic is told to decline is given back at once.
    if (decision.allowed && answer.result !== 'APPROVED') {
      this.inBackground(this.engine.reverse(record.processor_id, decision.authorization_id, LITHIC_ACTOR));
    }
    return { body: answer };
  }

  /**
   * A Lithic transaction event (event subscription) to `/v1/bridges/lithic-events/:org_id`, verified like an
   * ASA request with the subscription's own secret: `card_transaction.updated` with status SETTLED captures
   * the authorization whose id is the transaction token for `settled_amount` (capped at the approved
   * amount); VOIDED, EXPIRED and DECLINED reverse it. Other events and statuses are acknowledged and ignored.
   */
  async handleLithicEvent(
    orgId: string,
    payload: Buffer,
    headers: LithicSignatureHeaders,
    guard?: ReadGuard,
  ): Promise<{ body: { received: true; outcome: string } }> {
    const { record, json } = await this.verifiedLithic('lithic_events', orgId, payload, headers, guard);
    const event = parseLithicTransactionEvent(json);
    const ignored = { body: { received: true as const, outcome: 'ignored' } };
    if (event.event_type !== 'card_transaction.updated') return ignored;
    const settlements = lithicSettlements(event);
    const close = event.status !== undefined && LITHIC_CLOSED.has(event.status);
    if (settlements.length === 0 && !close) return ignored;
    return {
      body: { received: true, outcome: await this.followUp(record, event.token, settlements, close, LITHIC_ACTOR) },
    };
  }

  /** Checks a Lithic call's Standard Webhooks signature against the org's bridge of `kind`, then parses it. */
  private async verifiedLithic(
    kind: BridgeKind,
    orgId: string,
    payload: Buffer,
    headers: LithicSignatureHeaders,
    guard?: ReadGuard,
  ): Promise<{ record: BridgeRecord; json: unknown }> {
    const bridge = await this.load(orgId, kind, guard);
    const now = this.clock.now();
    const secrets = (bridge?.secrets ?? [])
      .filter((s) => s.expiresAt === null || s.expiresAt > now)
      .map((s) => s.plaintext);
    const record = bridge?.record;
    if (!record || !verifyLithicSignature(payload, headers, secrets, now)) {
      throw new AppError('bridge_signature_invalid', 'the webhook-signature header does not verify');
    }
    const text = payload.toString('utf8');
    if (jsonTextTooDeep(text)) throw new AppError('nesting_too_deep', 'the request nests too deep');
    try {
      return { record, json: JSON.parse(text) };
    } catch {
      throw new AppError('malformed_request', 'the request is not valid JSON');
    }
  }

  /** Decides an `issuing_authorization.request` through the engine's authorize (its deadline and stand-in). */
  private async decide(record: BridgeRecord, auth: StripeAuthorization, receivedAt?: number): Promise<StripeAnswer> {
    const decision: Decision = await this.engine.authorize(
      record.processor_id,
      stripeAuthorizeBody(auth),
      ACTOR,
      receivedAt === undefined ? undefined : { receivedAt },
    );
    const foreign =
      (decision.org_id !== null && decision.org_id !== record.org_id) ||
      decision.reason_codes.includes('processor_mismatch');
    const answer = foreign
      ? stripeForeignCardAnswer()
      : stripeAnswer(decision, auth.pending_request?.is_amount_controllable === true);
    // A hold of an approval Stripe is told to decline is given back at once.
    if (decision.allowed && !answer.approved) {
      this.inBackground(this.engine.reverse(record.processor_id, decision.authorization_id, ACTOR));
    }
    return answer;
  }

  /**
   * Applies a processor's follow-up to the org's authorization through the engine's lifecycle: each
   * settlement (a capture or a refund, once per processor transaction id), then, when `close`, the
   * authorization's closing (what was captured stays spent, the rest of the hold is released; nothing
   * captured is a reversal). The outcome is the authorization's status after closing (`captured`,
   * `reversed`), else that of the last settlement (`captured`, `refunded`); a replay answers the same and
   * changes nothing. An authorization Allowance does not know for this org is `unknown_authorization`; a
   * closing without settlements of one already captured, or a settlement its state refuses, is `ignored`.
   */
  private async followUp(
    record: BridgeRecord,
    authorizationId: string,
    settlements: readonly BridgeSettlement[],
    close: boolean,
    actor = ACTOR,
  ): Promise<string> {
    const work = async (): Promise<string> => {
      let current: Awaited<ReturnType<Engine['getAuthorization']>>;
      try {
        current = await this.engine.getAuthorization(record.processor_id, authorizationId);
      } catch (err) {
        if (isAppError(err, 'not_found')) return 'unknown_authorization';
        throw err;
      }
      if (current.org_id !== record.org_id) return 'unknown_authorization';
      if (current.status === 'declined' || current.status === 'pending') return 'ignored';
      if (settlements.length === 0 && close && current.status === 'captured') return 'ignored';
      let outcome = 'ignored';
      for (const s of settlements) {
        const body = { settlement_id: s.id, amount: s.amount };
        try {
          if (s.type === 'capture') {
            await this.engine.settleCapture(record.processor_id, authorizationId, body, actor);
            outcome = 'captured';
          } else {
            await this.engine.settleRefund(record.processor_id, authorizationId, body, actor);
            outcome = 'refunded';
          }
        } catch (err) {
          if (!isAppError(err, 'invalid_state')) throw err;
        }
      }
      if (close) {
        try {
          outcome = (await this.engine.closeAuthorization(record.processor_id, authorizationId, actor)).status;
        } catch (err) {
          if (!isAppError(err, 'invalid_state')) throw err;
        }
      }
      return outcome;
    };
    return within(work(), FOLLOW_UP_BUDGET_MS);
  }
}
