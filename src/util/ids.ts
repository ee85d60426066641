import { randomBytes, randomFillSync } from 'node:crypto';

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
} as const;

// One CSPRNG call per 256 ids instead of one per id; bytes are used once and never reused.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

/** `n` random characters of the alphabet (5 bits each), from the pool. */
function randomChars(n: number): string {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let out = '';
  for (let i = 0; i < n; i++) out += ALPHABET[(pool[poolOffset + i] as number) & 31];
  poolOffset += n;
  return out;
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/**
 * A prefixed random id whose body starts with the creation time, so ids of one kind sort by creation
 * (cursor pagination relies on it) while the 80 random bits keep them unguessable.
 */
export function newId(prefix: string, nowMs: number = Date.now()): string {
  return `${prefix}_${encodeTime(nowMs)}${randomChars(16)}`;
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
  let counter = '';
  let c = sequentialCounter;
  for (let i = 0; i < 4; i++) {
    counter = ALPHABET[c % 32] + counter;
    c = Math.floor(c / 32);
  }
  return `${prefix}_${encodeTime(lastSequentialMs)}${counter}${randomChars(13)}`;
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
