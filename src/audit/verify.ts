import { auditHash } from './hash.js';
import { type AuditEvent, GENESIS_HASH } from './types.js';

/**
 * Why a chain failed verification. Stable lower snake_case, part of the API (GET /v1/audit/verify and the
 * offline CLI), never renamed.
 */
export const VERIFY_REASONS = [
  /** The stored hash is not the SHA-256 of the event's canonical JSON: the event was changed. */
  'hash_mismatch',
  /** The event's `prev_hash` is not the hash of the event before it (or of the anchor). */
  'prev_hash_mismatch',
  /** The seq at `first_bad_seq` is missing: the next event carries a higher seq. */
  'seq_gap',
  /** An event sits at the wrong position: its seq is lower than the one expected there, or comes back down. */
  'seq_out_of_order',
  /** The event belongs to another org than the chain. */
  'org_mismatch',
  /** The event lacks a field or has one of the wrong type, so its hash cannot be computed. */
  'malformed_event',
  /** Events the export promised (its checkpoint, or a closing line) are not there. */
  'truncated',
] as const;

/** One of {@link VERIFY_REASONS}. */
export type VerifyReason = (typeof VERIFY_REASONS)[number];

/**
 * The outcome of verifying a chain (or a contiguous part of it).
 *
 * `first_bad_seq` is the lowest seq at which the chain does not verify: every event below it was checked and
 * is intact and linked; the event at `first_bad_seq` is missing, changed or out of place. `head_seq` and
 * `head_hash` name the last event verified good (`head_seq` is the seq before the first one expected, and
 * `head_hash` the anchor, when none was).
 */
export interface VerifyResult {
  ok: boolean;
  /** Events verified good. */
  checked: number;
  head_seq: number;
  /** Null only when nothing was verified and no anchor is known (a part starting after seq 1). */
  head_hash: string | null;
  first_bad_seq: number | null;
  reason: VerifyReason | null;
  /** A sentence for humans; not part of the contract. */
  detail: string | null;
}

/** Options of {@link ChainVerifier}. */
export interface ChainVerifierOptions {
  /** Every event must carry this org id; default: the first event's. */
  orgId?: string;
  /**
   * The seq the events must start at. Default 1. `null`: start at the first event's seq, taking its
   * `prev_hash` as the anchor (a part of a chain whose start is not known in advance).
   */
  fromSeq?: number | null;
  /**
   * The `prev_hash` the first event must carry: default the genesis hash (64 zeros) when starting at seq 1,
   * otherwise whatever the first event carries (it cannot be checked without the event before it).
   */
  anchor?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

/** Why `e` is not an audit event, or null when its shape is right. */
function shapeProblem(e: unknown): string | null {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'not an object';
  const x = e as Record<string, unknown>;
  if (!Number.isSafeInteger(x.seq) || (x.seq as number) < 1) return 'seq is not a positive integer';
  for (const k of ['id', 'org_id', 'at', 'type', 'actor'] as const) if (!isString(x[k])) return `${k} is not a string`;
  const subject = x.subject as Record<string, unknown> | null;
  if (typeof subject !== 'object' || subject === null || !isString(subject.kind) || !isString(subject.id)) {
    return 'subject is not {kind, id}';
  }
  if (x.agent_id !== null && !isString(x.agent_id)) return 'agent_id is not a string or null';
  if (typeof x.payload !== 'object' || x.payload === null || Array.isArray(x.payload)) {
    return 'payload is not an object';
  }
  if (!isString(x.prev_hash) || !HEX64.test(x.prev_hash)) return 'prev_hash is not 64 lower-case hex digits';
  if (!isString(x.hash) || !HEX64.test(x.hash)) return 'hash is not 64 lower-case hex digits';
  return null;
}

/**
 * Verifies a hash chain one event at a time, in the order the events are read (ascending seq), holding
 * nothing but the previous hash: a million events verify in constant memory.
 *
 * At each position it checks, in this order: the event's shape; that its seq is the one expected (the
 * previous seq + 1); its org; that its hash recomputes (see auditHash); that its `prev_hash` is the previous
 * event's hash. The first failure ends verification. A seq above the expected one is judged with the next
 * event: if that one comes back down the events are out of order, otherwise the expected seq is missing.
 *
 * What each tampering of a stored chain reports (events read by ascending seq):
 * - the content of event k changed: `hash_mismatch` at k;
 * - event k deleted: `seq_gap` at k;
 * - the seq fields of events k and k+1 swapped: the event read at position k carries a hash computed with
 *   seq k+1, so `hash_mismatch` at k (read in storage order instead: `seq_out_of_order` at k);
 * - event k rewritten *with* a recomputed hash: `prev_hash_mismatch` at k+1 (events up to k are intact and
 *   linked as far as the chain can tell; a signed checkpoint of an export tells more);
 * - the newest events deleted: not visible from the chain alone; an export's signed checkpoint, or a head
 *   seen earlier, shows it.
 */
export class ChainVerifier {
  private org: string | undefined;
  private expected: number | null;
  private prevHash: string | null;
  private checkedCount = 0;
  private failure: { seq: number; reason: VerifyReason; detail: string } | null = null;
  /** An event whose seq was above the expected one, judged when the next event (or the end) arrives. */
  private pendingHigh: number | null = null;
  private finished = false;

  constructor(options: ChainVerifierOptions = {}) {
    this.org = options.orgId;
    const from = options.fromSeq === undefined ? 1 : options.fromSeq;
    this.expected = from;
    this.prevHash = options.anchor ?? (from === 1 ? GENESIS_HASH : null);
  }

  /** True once the chain failed: further events are ignored. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** The seq the next event must carry (null before the first event when starting anywhere). */
  get nextSeq(): number | null {
    return this.expected;
  }

  /** The org of the chain: the one required, or the first event's. */
  get orgId(): string | undefined {
    return this.org;
  }

  /**
   * Checks the next event; true when it verified good. After a failure ({@link failed}) events are ignored:
   * stop feeding it.
   */
  push(event: unknown): boolean {
    if (this.finished) throw new Error('ChainVerifier: push after result()');
    if (this.failure) return false;
    const problem = shapeProblem(event);
    const e = event as AuditEvent;
    if (this.pendingHigh !== null) {
      const expected = this.expected as number;
      const comesDown = problem === null ? e.seq < this.pendingHigh : false;
      this.fail(
        expected,
        comesDown ? 'seq_out_of_order' : 'seq_gap',
        comesDown
          ? `seq ${this.pendingHigh} came where ${expected} belongs, followed by seq ${e.seq}`
          : `seq ${expected} is missing: the next event is seq ${this.pendingHigh}`,
      );
      return false;
    }
    if (problem !== null) {
      this.fail(this.expected ?? 1, 'malformed_event', `event at seq ${this.expected ?? '?'}: ${problem}`);
      return false;
    }
    if (this.expected === null) {
      this.expected = e.seq;
      if (e.seq === 1) this.prevHash ??= GENESIS_HASH;
    }
    const expected = this.expected;
    if (e.seq < expected) {
      this.fail(expected, 'seq_out_of_order', `seq ${e.seq} came where ${expected} belongs`);
      return false;
    }
    if (e.seq > expected) {
      this.pendingHigh = e.seq;
      return false;
    }
    if (this.org === undefined) this.org = e.org_id;
    if (e.org_id !== this.org) {
      this.fail(e.seq, 'org_mismatch', `event of org ${e.org_id} in the chain of ${this.org}`);
      return false;
    }
    let hash: string;
    try {
      hash = auditHash(e);
    } catch (err) {
      this.fail(e.seq, 'malformed_event', `event at seq ${e.seq} cannot be hashed: ${(err as Error).message}`);
      return false;
    }
    if (hash !== e.hash) {
      this.fail(e.seq, 'hash_mismatch', `event at seq ${e.seq} does not hash to its stored hash`);
      return false;
    }
    if (this.prevHash !== null && e.prev_hash !== this.prevHash) {
      this.fail(
        e.seq,
        'prev_hash_mismatch',
        e.seq === 1 || this.checkedCount === 0
          ? `prev_hash of seq ${e.seq} is not the expected anchor`
          : `prev_hash of seq ${e.seq} is not the hash of seq ${e.seq - 1}`,
      );
      return false;
    }
    this.prevHash = e.hash;
    this.expected = e.seq + 1;
    this.checkedCount += 1;
    return true;
  }

  /**
   * Marks the events that should have followed as missing (an export cut short): fails with `truncated` at
   * the next expected seq, unless the chain already failed.
   */
  truncated(detail: string): void {
    this.settlePending();
    if (!this.failure) this.fail(this.expected ?? 1, 'truncated', detail);
  }

  /** The verdict over everything pushed. */
  result(): VerifyResult {
    this.settlePending();
    this.finished = true;
    const headSeq = this.expected === null ? 0 : this.expected - 1;
    return {
      ok: this.failure === null,
      checked: this.checkedCount,
      head_seq: headSeq,
      head_hash: this.prevHash,
      first_bad_seq: this.failure?.seq ?? null,
      reason: this.failure?.reason ?? null,
      detail: this.failure?.detail ?? null,
    };
  }

  private settlePending(): void {
    if (this.pendingHigh === null || this.failure) return;
    const expected = this.expected as number;
    this.fail(expected, 'seq_gap', `seq ${expected} is missing: the next event is seq ${this.pendingHigh}`);
  }

  private fail(seq: number, reason: VerifyReason, detail: string): void {
    this.failure = { seq, reason, detail };
    this.pendingHigh = null;
  }
}

/** Verifies events read from any async (or sync) iterable, e.g. pages of the store or lines of an export. */
export async function verifyAuditEvents(
  events: AsyncIterable<unknown> | Iterable<unknown>,
  options: ChainVerifierOptions = {},
): Promise<VerifyResult> {
  const v = new ChainVerifier(options);
  for await (const e of events) {
    v.push(e);
    if (v.failed) break;
  }
  return v.result();
}
