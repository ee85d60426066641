import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { derivedId, digestId, ID_PREFIX, newId, newSequentialId } from '../../src/util/ids.js';

const test = suite('util: ids');

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** The time part as ids have always written it: ten characters, most significant first. */
function timePart(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

const INSTANTS = [0, 1, 31, 32, 1_000_000_000_000, Date.parse('2026-11-30T09:00:00.000Z'), 2 ** 50 - 1];

test('newId: prefix, the time, 16 random characters of the alphabet', () => {
  const seen = new Set<string>();
  for (const ms of INSTANTS) {
    for (let i = 0; i < 300; i++) {
      const id = newId(ID_PREFIX.decision, ms);
      assert.match(id, /^dec_[0-9a-hjkmnp-tv-z]{26}$/);
      assert.is(id.slice(4, 14), timePart(ms));
      seen.add(id);
    }
  }
  assert.is(seen.size, INSTANTS.length * 300);
  // Sorted by creation.
  assert.ok(newId('x', 1000) < newId('x', 1001));
});

test('newSequentialId: the time, a counter that rises within a millisecond, 13 random characters', () => {
  const at = Date.parse('2099-06-01T00:00:00.000Z');
  const ids = Array.from({ length: 100 }, () => newSequentialId(ID_PREFIX.auditEvent, at));
  for (const id of ids) {
    assert.match(id, /^evt_[0-9a-hjkmnp-tv-z]{27}$/);
    assert.is(id.slice(4, 14), timePart(at));
  }
  for (let i = 1; i < ids.length; i++) assert.ok((ids[i] as string) > (ids[i - 1] as string));
  const counter = (id: string) => [...id.slice(14, 18)].reduce((n, c) => n * 32 + ALPHABET.indexOf(c), 0);
  for (let i = 1; i < ids.length; i++) assert.is(counter(ids[i] as string), counter(ids[i - 1] as string) + 1);
});

test('derivedId: the same id for the same instant and key, as it was always derived', () => {
  for (const ms of INSTANTS) {
    const key = `quota.exceeded/org_1/${ms}`;
    const digest = createHash('sha256').update(key).digest();
    let tail = '';
    for (let i = 0; i < 13; i++) tail += ALPHABET[(digest[i] as number) & 31];
    assert.is(derivedId(ID_PREFIX.auditEvent, ms, key), `evt_${timePart(ms)}zzzz${tail}`);
  }
});

test('digestId: the prefix and the leading hex digits of the SHA-256', () => {
  for (const data of ['', 'prc_1\u0000pa_1\u00001', 'Café ü €']) {
    const hex = createHash('sha256').update(data).digest('hex');
    assert.is(digestId('rsv', data, 40), `rsv_${hex.slice(0, 40)}`);
    assert.is(digestId('x', data, 64), `x_${hex}`);
  }
});

test.run();
