import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/util/canonical-json.js';

const canonical = suite('canonical JSON (RFC 8785 subset)');

/** An independent, obviously correct serializer: sort keys by UTF-16 code units, recurse. */
function reference(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort((a, b) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const d = a.charCodeAt(i) - b.charCodeAt(i);
        if (d !== 0) return d;
      }
      return a.length - b.length;
    });
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
}

let seed = 7;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
}
const KEYS = ['a', 'b', 'B', '_x', '10', '9', '2', 'é', '\u{1F600}', 'ab', 'aa', 'z', '"q"', 'a\nb'];
const STRINGS = ['', 'x', 'Ünïcode', 'quote " and \\ slash', '\u2028', '\u{1F600}', 'tab\t'];

function value(depth: number): unknown {
  switch (rand(depth > 3 ? 4 : 7)) {
    case 0:
      return null;
    case 1:
      return rand(2) === 0;
    case 2:
      return rand(2) === 0 ? rand(1_000_000) : -rand(1_000_000);
    case 3:
      return STRINGS[rand(STRINGS.length)];
    case 4:
      return Array.from({ length: rand(4) }, () => value(depth + 1));
    default: {
      const keys = Array.from({ length: rand(6) }, () => KEYS[rand(KEYS.length)] as string);
      // Half of the objects are built with their keys in order, to exercise the native path.
      if (rand(2) === 0) keys.sort();
      const o: Record<string, unknown> = {};
      for (const k of keys) o[k] = rand(8) === 0 ? undefined : value(depth + 1);
      return o;
    }
  }
}

canonical('agrees with an independent serializer on 5,000 random values, in key order or not', () => {
  for (let i = 0; i < 5000; i++) {
    const v = value(0);
    assert.is(canonicalJson(v), reference(v), JSON.stringify(v));
  }
});

canonical('integer-like keys sort as strings, not numerically', () => {
  assert.is(canonicalJson({ 10: 'a', 9: 'b', 2: 'c' }), '{"10":"a","2":"c","9":"b"}');
  assert.is(canonicalJson({ a: { 10: 1, 9: 2 } }), '{"a":{"10":1,"9":2}}');
});

canonical('refuses what it has no canonical form for', () => {
  for (const bad of [1.5, Number.NaN, 2 ** 60, { a: 0.1 }, [1, 2.5], { a: () => 1 }, new Date(0)]) {
    assert.throws(() => canonicalJson(bad), String(bad));
  }
});

canonical.run();
