import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { sha256Hex } from './hash.js';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Id prefixes by entity; part of the API, never renamed. */
export const ID_PREFIX = {
  org: 'org',
  processor: 'prc',
  agent: 'agt',
  authority: 'sa',
  binding: 'bnd',
  intent: 'int',
  decision: 'dec',
  reservation: 'rsv',
  auditEvent: 'evt',
  policyReplay: 'rpl',
  approval: 'apr',
  approvalLink: 'apl',
} as const;

/**
 * Test mode is a world of its own: an org or processor has a test twin, an org or processor of its own whose
 * id is the live one's with `test` after the prefix (`org_…` → `orgtest_…`, `prc_…` → `prctest_…`). Every
 * store, chain, ledger, policy and limit keyed by org or processor then keeps test data apart by itself.
 */
const TEST_SUFFIX = 'test';

/** The id of the test twin of a live org or processor id (`org_x` → `orgtest_x`); a test id is returned as is. */
export function testTwinId(id: string): string {
  if (isTestId(id)) return id;
  const sep = id.indexOf('_');
  return sep < 0 ? id : `${id.slice(0, sep)}${TEST_SUFFIX}${id.slice(sep)}`;
}

/** The live id of a test twin id (`orgtest_x` → `org_x`); a live id is returned as is. */
export function liveIdOf(id: string): string {
  if (!isTestId(id)) return id;
  const sep = id.indexOf('_');
  return `${id.slice(0, sep - TEST_SUFFIX.length)}${id.slice(sep)}`;
}

/** Whether an org or processor id names a test twin (`orgtest_…`, `prctest_…`). */
export function isTestId(id: string): boolean {
  const sep = id.indexOf('_');
  return (
    sep > TEST_SUFFIX.length &&
    id.slice(sep - TEST_SUFFIX.length, sep) === TEST_SUFFIX &&
    (id.startsWith(`${ID_PREFIX.org}${TEST_SUFFIX}_`) || id.startsWith(`${ID_PREFIX.processor}${TEST_SUFFIX}_`))
  );
}

// One CSPRNG call per 256 ids instead of one per id; bytes are used once and never reused.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const UNDERSCORE = 95;

/**
 * The character codes of the id being built. Ids are made from codes by one String.fromCharCode: one flat
 * string, where concatenating the parts makes a tree of strings several times larger in every record that
 * keeps the id (and one short string per character on the way).
 */
const codes: number[] = [];
let codeCount = 0;

function startId(prefix: string): void {
  codeCount = 0;
  for (let i = 0; i < prefix.length; i++) codes[codeCount++] = prefix.charCodeAt(i);
  codes[codeCount++] = UNDERSCORE;
}

/** `width` characters of the alphabet (5 bits each) of a non-negative integer, most significant first. */
function pushNumber(value: number, width: number): void {
  let v = value;
  for (let i = codeCount + width - 1; i >= codeCount; i--) {
    codes[i] = CODES[v % 32] as number;
    v = Math.floor(v / 32);
  }
  codeCount += width;
}

/** `n` random characters of the alphabet (5 bits each), from the pool. */
function pushRandom(n: number): void {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < n; i++) codes[codeCount++] = CODES[(pool[poolOffset + i] as number) & 31] as number;
  poolOffset += n;
}

function finishId(): string {
  codes.length = codeCount;
  return String.fromCharCode.apply(null, codes);
}

/**
 * A prefixed random id whose body starts with the creation time, so ids of one kind sort by creation
 * (cursor pagination relies on it) while the 80 random bits keep them unguessable.
 */
export function newId(prefix: string, nowMs: number = Date.now()): string {
  startId(prefix);
  pushNumber(nowMs, 10);
  pushRandom(16);
  return finishId();
}

/**
 * An id of the shape of {@link newSequentialId} whose body is a function of `nowMs` and `key` only: every
 * process derives the same one, so a record written under it by several servers is written once (an audit
 * draft whose id is already pending or linked is ignored).
 */
export function derivedId(prefix: string, nowMs: number, key: string): string {
  const digest = createHash('sha256').update(key).digest();
  startId(prefix);
  pushNumber(nowMs, 10);
  for (let i = 0; i < 4; i++) codes[codeCount++] = CODES[31] as number;
  for (let i = 0; i < 13; i++) codes[codeCount++] = CODES[(digest[i] as number) & 31] as number;
  return finishId();
}

/** `prefix_` and the first `length` hex digits of the SHA-256 of `data`, as one flat string. */
export function digestId(prefix: string, data: string, length: number): string {
  const hex = sha256Hex(data);
  startId(prefix);
  for (let i = 0; i < length; i++) codes[codeCount++] = hex.charCodeAt(i);
  return finishId();
}

let lastSequentialMs = -1;
let sequentialCounter = 0;

/**
 * Like {@link newId}, but ids made by this process increase strictly, even within one millisecond or when
 * the clock steps back: the body is the time, a 4-character counter, then 64 random bits. Audit events use
 * it so that changes made in one millisecond keep the order in which they happened.
 */
export function newSequentialId(prefix: string, nowMs: number = Date.now()): string {
  if (nowMs > lastSequentialMs) {
    lastSequentialMs = nowMs;
    sequentialCounter = 0;
  } else if (++sequentialCounter >= 32 ** 4) {
    lastSequentialMs += 1;
    sequentialCounter = 0;
  }
  startId(prefix);
  pushNumber(lastSequentialMs, 10);
  pushNumber(sequentialCounter, 4);
  pushRandom(13);
  return finishId();
}

// Request ids: a random prefix per process and a counter. Unique across processes (48 random bits each),
// cheap per request (no CSPRNG call), and the same shape as before: `req_` and 24 hex digits.
const REQUEST_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;

/** A Request-Id: this process's random prefix and a 48-bit counter, `req_` + 24 hex digits. */
export function newRequestId(): string {
  requestCounter = (requestCounter + 1) % 0x1000000000000;
  return REQUEST_PREFIX + requestCounter.toString(16).padStart(12, '0');
}
