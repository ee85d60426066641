import type { Decision } from '../types.js';

/**
 * A signed decision stored without the payload of its proof. The proof is a compact JWS whose payload is
 * the base64url of the JSON of the decision's other fields, in their (ascending) order: a store keeps those
 * fields once, the JWS header (one string per signing key, shared) and the signature, and
 * {@link attachProof} rebuilds the exact proof, byte for byte.
 */
export class DetachedProof {
  constructor(
    /** The decision's fields but `proof`, in the decision's key order. */
    readonly fields: Omit<Decision, 'proof'>,
    /** The JWS's protected header (base64url), one shared string per distinct header. */
    readonly header: string,
    /** The JWS's signature (base64url). */
    readonly signature: string,
  ) {}
}

/** Distinct JWS headers seen (one per signing key), so every detached proof of a key shares one string. */
const headers = new Map<string, string>();
/** Headers kept at most: beyond it a header is stored per decision (still correct, only larger). */
const MAX_HEADERS = 256;

/**
 * A fresh sequential copy of a string: a slice of a longer string may keep the whole of it alive, and a
 * concatenation keeps its parts; the copy keeps only its own characters.
 */
function ownCopy(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** The header of the last proof detached: most proofs are signed with one key. */
let lastHeader = '';

/** The shared header string of a proof whose header ends at `end` (checked in place, without a copy). */
function sharedHeader(proof: string, end: number): string {
  if (lastHeader.length === end && proof.startsWith(lastHeader)) return lastHeader;
  const h = proof.slice(0, end);
  let known = headers.get(h);
  if (known === undefined) {
    known = ownCopy(h);
    if (headers.size < MAX_HEADERS) headers.set(known, known);
  }
  lastHeader = known;
  return known;
}

/** Scratch space of {@link signsFields}: the JSON of the fields and the decoded payload, reused. */
let jsonBytes = Buffer.allocUnsafeSlow(4096);
let payloadBytes = Buffer.allocUnsafeSlow(4096);
/** The one canonical base64url alphabet (Node also decodes `+`, `/`, `=` and skips other characters). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** The last character of a canonical encoding of 3k + 1 and 3k + 2 bytes (its unused bits are zero). */
const LAST_OF_ONE = /[AQgw]$/;
const LAST_OF_TWO = /[AEIMQUYcgkosw048]$/;

/**
 * True when `proof[start, end)` is the base64url encoding of the JSON of `fields`, the one canonical
 * encoding (no padding, unused bits zero), i.e. exactly what {@link payloadOf} makes of them. The payload is
 * decoded and compared byte for byte in reused buffers: no string the size of the payload is made.
 */
function signsFields(proof: string, start: number, end: number, fields: object): boolean {
  const json = JSON.stringify(fields);
  const most = json.length * 3;
  if (most > jsonBytes.length) {
    jsonBytes = Buffer.allocUnsafeSlow(most);
    payloadBytes = Buffer.allocUnsafeSlow(most);
  }
  const n = jsonBytes.write(json, 'utf8');
  if (end - start !== Math.ceil((n * 4) / 3)) return false;
  const payload = proof.slice(start, end);
  if (!BASE64URL.test(payload)) return false;
  if (n % 3 === 1 && !LAST_OF_ONE.test(payload)) return false;
  if (n % 3 === 2 && !LAST_OF_TWO.test(payload)) return false;
  if (payloadBytes.write(payload, 'base64url') !== n) return false;
  return jsonBytes.compare(payloadBytes, 0, n, 0, n) === 0;
}

/** The base64url payload a decision's proof signs: the JSON of `fields`. */
function payloadOf(fields: object): string {
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

/** What a signer vouched for ({@link vouchProof}): the object it signed and, when given, its proof's parts. */
interface Vouch {
  signed: Readonly<Record<string, unknown>>;
  /** The proof when vouched: one replaced since is checked by its bytes. */
  proof: string;
  /** The proof's header and signature as the signer wrote them; null when not given. */
  header: string | null;
  signature: string;
}

/**
 * Decisions whose signer vouched for their proof ({@link vouchProof}), with what it signed.
 */
const vouched = new WeakMap<object, Vouch>();

/**
 * Called by the signer of `decision` right after signing: its proof is the compact JWS
 * `header.base64url(JSON.stringify(signed)).signature`, and `decision` is `signed`'s fields, in the same
 * order, with `proof` added. {@link detachProof} then checks the fields against `signed` (the same values)
 * instead of decoding the payload to compare it with their JSON. A decision nobody vouched for, or whose
 * fields or proof are no longer the vouched ones, is checked by decoding as before.
 */
export function vouchProof(
  decision: Decision,
  signed: Omit<Decision, 'proof'>,
  /** The header and signature of the proof, as the signer wrote them: the proof is then not read at all. */
  parts?: { header: string; signature: string } | null,
): void {
  vouched.set(decision, {
    signed: signed as unknown as Readonly<Record<string, unknown>>,
    proof: decision.proof,
    header: parts ? parts.header : null,
    signature: parts ? parts.signature : '',
  });
}

/** True when `signed` has exactly the fields of `decision` but its proof, in the same order, with the same values. */
function isSignedAs(decision: Decision, signed: Readonly<Record<string, unknown>>): boolean {
  const d = decision as unknown as Readonly<Record<string, unknown>>;
  let i = 0;
  for (const key in signed) {
    if (DECISION_KEYS[i] === 'proof') i++;
    if (key !== DECISION_KEYS[i++] || signed[key] !== d[key]) return false;
  }
  return i === DECISION_KEYS.length;
}

/**
 * Splits a decision into its fields and the header and signature of its proof; null when the proof could
 * not be rebuilt exactly from them (other keys than a decision's or in another order, no proof, a proof
 * over other bytes): the caller then keeps the decision as it is. `fields` reuses the decision's values
 * (strings, arrays) and never copies them; with `share` (the record carrying the decision), an id, the
 * request hash or the creation time equal to the one of the same name in it is replaced by that instance
 * (same characters: the payload and the proof are unchanged).
 */
export function detachProof(decision: Decision, share?: Readonly<Record<string, unknown>>): DetachedProof | null {
  const proof = (decision as { proof?: unknown }).proof;
  if (typeof proof !== 'string') return null;
  if (Object.getPrototypeOf(decision) !== Object.prototype) return null;
  let i = 0;
  for (const key in decision) if (key !== DECISION_KEYS[i++]) return null;
  if (i !== DECISION_KEYS.length) return null;
  const vouch = vouched.get(decision);
  // Vouched for, with the fields and the proof it was vouched with.
  const signedAs = vouch !== undefined && vouch.proof === proof && isSignedAs(decision, vouch.signed);
  if (signedAs && vouch.header !== null) {
    // The proof its signer made of these fields, its parts as the signer wrote them: the proof is not read.
    const fields = decisionFields(decision);
    if (share !== undefined) shareStrings(fields, share);
    return new DetachedProof(fields, vouch.header, vouch.signature);
  }
  const first = proof.indexOf('.');
  const second = proof.indexOf('.', first + 1);
  if (first <= 0 || second < 0 || proof.indexOf('.', second + 1) >= 0) return null;
  const fields = decisionFields(decision);
  if (share !== undefined) shareStrings(fields, share);
  if (!signedAs && !signsFields(proof, first + 1, second, fields)) return null;
  const signature = proof.slice(second + 1);
  if (signature.length === 0) return null;
  return new DetachedProof(fields, sharedHeader(proof, first), ownCopy(signature));
}

/** Every key of a decision, in the ascending order it is signed and stored in. */
const DECISION_KEYS: readonly string[] = Object.keys(decisionOf(decisionFields({} as Decision), '')).sort();

/** The fields of a decision that a record also carries under the same name. */
type Shared = Pick<
  Omit<Decision, 'proof'>,
  'authorization_id' | 'processor_id' | 'org_id' | 'agent_id' | 'authority_id' | 'request_sha256' | 'created_at'
>;

/** Replaces each of `f`'s {@link Shared} strings equal to the one of `share` by that instance (same characters). */
function shareStrings(f: Shared, share: Readonly<Record<string, unknown>>): void {
  if (share.authorization_id === f.authorization_id) f.authorization_id = share.authorization_id as string;
  if (share.processor_id === f.processor_id) f.processor_id = share.processor_id as string;
  if (share.org_id === f.org_id) f.org_id = share.org_id as string | null;
  if (share.agent_id === f.agent_id) f.agent_id = share.agent_id as string | null;
  if (share.authority_id === f.authority_id) f.authority_id = share.authority_id as string | null;
  if (share.request_sha256 === f.request_sha256) f.request_sha256 = share.request_sha256 as string;
  if (share.created_at === f.created_at) f.created_at = share.created_at as string;
}

/**
 * The fields of a decision but its proof, as one object literal in ascending key order: every stored
 * decision shares one shape with its fields inside the object (an object built key by key would keep
 * them in a dictionary of its own, several times larger).
 */
function decisionFields(d: Omit<Decision, 'proof'>): Omit<Decision, 'proof'> {
  return {
    action: d.action,
    agent_id: d.agent_id,
    allowed: d.allowed,
    amount: d.amount,
    approval_expires_at: d.approval_expires_at,
    approval_id: d.approval_id,
    approved_amount: d.approved_amount,
    audit_event_id: d.audit_event_id,
    authority_id: d.authority_id,
    authorization_id: d.authorization_id,
    binding_id: d.binding_id,
    created_at: d.created_at,
    currency: d.currency,
    decision_id: d.decision_id,
    expires_at: d.expires_at,
    intent_id: d.intent_id,
    livemode: d.livemode,
    org_id: d.org_id,
    org_policy_revision: d.org_policy_revision,
    policy_revision: d.policy_revision,
    processor_id: d.processor_id,
    reason_codes: d.reason_codes,
    request_sha256: d.request_sha256,
    simulated: d.simulated,
    stand_in: d.stand_in,
  };
}

/** The decision of `f` and `proof`, one object literal in ascending key order (the order it was signed in). */
function decisionOf(f: Omit<Decision, 'proof'>, proof: string): Decision {
  return {
    action: f.action,
    agent_id: f.agent_id,
    allowed: f.allowed,
    amount: f.amount,
    approval_expires_at: f.approval_expires_at,
    approval_id: f.approval_id,
    approved_amount: f.approved_amount,
    audit_event_id: f.audit_event_id,
    authority_id: f.authority_id,
    authorization_id: f.authorization_id,
    binding_id: f.binding_id,
    created_at: f.created_at,
    currency: f.currency,
    decision_id: f.decision_id,
    expires_at: f.expires_at,
    intent_id: f.intent_id,
    livemode: f.livemode,
    org_id: f.org_id,
    org_policy_revision: f.org_policy_revision,
    policy_revision: f.policy_revision,
    processor_id: f.processor_id,
    proof,
    reason_codes: f.reason_codes,
    request_sha256: f.request_sha256,
    simulated: f.simulated,
    stand_in: f.stand_in,
  };
}

/** The decision of a {@link DetachedProof}: its fields and its proof, rebuilt exactly, in the original key order. */
export function attachProof(detached: DetachedProof): Decision {
  return decisionOf(detached.fields, `${detached.header}.${payloadOf(detached.fields)}.${detached.signature}`);
}
