import { randomFillSync } from 'node:crypto';

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
} as const;

// One CSPRNG call per 256 ids instead of one per id; bytes are used once and never reused.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

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
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let body = '';
  for (let i = 0; i < 16; i++) body += ALPHABET[(pool[poolOffset + i] as number) & 31];
  poolOffset += 16;
  return `${prefix}_${encodeTime(nowMs)}${body}`;
}
