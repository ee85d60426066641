import { attachProof, DetachedProof, detachProof } from '../../src/storage/index.js';
import type { Decision } from '../../src/types.js';
import { deepFreeze } from './freeze.js';

/**
 * What the memory store keeps of a signed decision: its fields and the header and signature of its proof
 * ({@link DetachedProof}), rebuilt into the exact decision on every read; the decision itself when its
 * proof cannot be rebuilt from them. The proof's payload (the decision's own fields again, in base64url)
 * is then never kept, neither by the record nor by the audit draft or event that carries the decision.
 */
export type StoredDecision = Decision | DetachedProof;

/** The last decision packed and its packing: a decision stored with its audit draft in one step is packed once. */
let lastDecision: Decision | null = null;
let lastPacked: StoredDecision | null = null;

/**
 * The packing of `decision` (see {@link StoredDecision}); `share`: an object whose equal string fields of
 * the same name the packing reuses (the record), so a value is kept once.
 */
export function packDecision(decision: StoredDecision, share?: Readonly<Record<string, unknown>>): StoredDecision {
  if (decision instanceof DetachedProof) return decision;
  if (decision === lastDecision && lastPacked !== null) return lastPacked;
  // A decision this store rebuilt (the audit chainer links the drafts it read): its own packing again.
  const known = rebuilt.get(decision);
  if (known !== undefined) return known;
  const packed = detachProof(decision, share) ?? decision;
  if (packed instanceof DetachedProof) {
    // The store owns what it keeps: the values the fields share with the decision (its reason codes) are
    // frozen, then the decision itself (so that packing it again gives the same) and the packing, whose
    // freezing also ends a deep freeze of the record there.
    const fields = packed.fields as unknown as Record<string, unknown>;
    for (const key in fields) {
      const value = fields[key];
      if (value !== null && typeof value === 'object') deepFreeze(value);
    }
    Object.freeze(fields);
    Object.freeze(decision);
    Object.freeze(packed);
  }
  lastDecision = decision;
  lastPacked = packed;
  return packed;
}

/** True for a packed decision (one whose proof is rebuilt on a read). */
export function isPackedDecision(stored: StoredDecision): stored is DetachedProof {
  return stored instanceof DetachedProof;
}

/**
 * Decisions {@link unpackDecision} rebuilt, with the packing each was rebuilt from. A rebuilt decision is
 * frozen, and so are the values it shares with the packing (its reason codes): it is that packing exactly, so
 * packing it again (an audit event made from a draft that was read) needs no check of its proof.
 */
const rebuilt = new WeakMap<Decision, DetachedProof>();

/** The decision a {@link StoredDecision} stands for (a fresh frozen object when it was packed). */
export function unpackDecision(stored: StoredDecision): Decision {
  if (!(stored instanceof DetachedProof)) return stored;
  const decision = Object.freeze(attachProof(stored));
  rebuilt.set(decision, stored);
  return decision;
}

/** The last number conversion of {@link flatString}. */
let _flattened = 0;

/**
 * `s` made one sequential string in place: a string built by concatenation keeps its parts (and a slice
 * its whole source) until it is flattened, which converting it to a number does. Returns `s`.
 */
export function flatString<T extends string | null>(s: T): T {
  // Kept in a module variable so that the conversion is never optimized away.
  if (typeof s === 'string') _flattened = Number(s);
  return s;
}

/** An audit draft or a linked event: what carries a payload. */
type Carrier = { readonly payload: Record<string, unknown> };

/** A payload's signed decision: an object with a proof (a plain `decision` field of an audit payload). */
function payloadDecision(payload: Readonly<Record<string, unknown>>): Decision | DetachedProof | null {
  const d = payload.decision;
  if (d instanceof DetachedProof) return d;
  return d !== null && typeof d === 'object' && typeof (d as { proof?: unknown }).proof === 'string'
    ? (d as Decision)
    : null;
}

/** `payload` with its `decision` replaced (same keys, same order). */
function withDecision(payload: Readonly<Record<string, unknown>>, decision: unknown): Record<string, unknown> {
  // The payload of a decision's audit event: one literal.
  if (hasKeys(payload, DECISION_PAYLOAD_KEYS)) return { decision, request: payload.request };
  const out: Record<string, unknown> = {};
  for (const key in payload) out[key] = key === 'decision' ? decision : payload[key];
  return out;
}

/** The keys of a decision event's payload. */
const DECISION_PAYLOAD_KEYS = ['decision', 'request'];
/** The keys of an audit draft and of a linked event, in the order the engine and the chainer make them. */
const DRAFT_KEYS = ['id', 'org_id', 'at', 'type', 'actor', 'subject', 'agent_id', 'payload'];
const EVENT_KEYS = [
  'id',
  'org_id',
  'seq',
  'at',
  'type',
  'actor',
  'subject',
  'agent_id',
  'payload',
  'prev_hash',
  'hash',
  'linked_at',
];

function hasKeys(source: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const key in source) if (key !== keys[i++]) return false;
  return i === keys.length;
}

/**
 * `draft` (or event) with `payload` instead of its own, its keys in the same order. A draft or an event of
 * the usual keys is one object literal (its fields inside the object, one shape for all); another is built
 * field by field. A frozen spread copy would take a hidden class of its own.
 */
function draftLiteral<T extends Carrier>(draft: T, payload: Record<string, unknown>): T {
  const d = draft as unknown as Record<string, unknown>;
  if (hasKeys(d, DRAFT_KEYS)) {
    return {
      id: d.id,
      org_id: d.org_id,
      at: d.at,
      type: d.type,
      actor: d.actor,
      subject: d.subject,
      agent_id: d.agent_id,
      payload,
    } as unknown as T;
  }
  if (hasKeys(d, EVENT_KEYS)) {
    return {
      id: d.id,
      org_id: d.org_id,
      seq: d.seq,
      at: d.at,
      type: d.type,
      actor: d.actor,
      subject: d.subject,
      agent_id: d.agent_id,
      payload,
      prev_hash: d.prev_hash,
      hash: d.hash,
      linked_at: d.linked_at,
    } as unknown as T;
  }
  const out: Record<string, unknown> = {};
  for (const key in d) out[key] = key === 'payload' ? payload : d[key];
  return out as unknown as T;
}

/**
 * A frozen audit draft or event to keep: the same, or, when its payload carries a signed decision whose proof
 * can be rebuilt, a copy whose payload holds the packed decision (only the store holds it; every read gets
 * a frozen copy from {@link unpackDraft}).
 */
export function packDraft<T extends Carrier>(draft: T): T {
  const decision = payloadDecision(draft.payload);
  if (decision === null || decision instanceof DetachedProof) return draft;
  const packed = packDecision(decision);
  if (!(packed instanceof DetachedProof)) return draft;
  return draftLiteral(draft, withDecision(draft.payload, packed));
}

/** The draft or event {@link packDraft} was given (a fresh frozen copy when it was packed). */
export function unpackDraft<T extends Carrier>(draft: T): T {
  const decision = draft.payload.decision;
  if (!(decision instanceof DetachedProof)) return draft;
  return Object.freeze(draftLiteral(draft, Object.freeze(withDecision(draft.payload, unpackDecision(decision)))));
}
