import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isoTime } from '../../src/util/clock.js';

const test = suite('util: isoTime');

const DAY = 86_400_000;

/** Instants on both sides of the boundaries the formatter keeps state across. */
function edges(): number[] {
  const days = [
    Date.parse('1970-01-01T00:00:00.000Z'),
    Date.parse('2026-03-08T00:00:00.000Z'),
    Date.parse('2024-02-29T00:00:00.000Z'),
    Date.parse('1969-12-31T00:00:00.000Z'),
    Date.parse('0000-01-01T00:00:00.000Z'),
    Date.parse('9999-12-31T00:00:00.000Z'),
  ];
  const out: number[] = [];
  for (const d of days)
    for (const off of [-1, 0, 1, 999, 1000, 59_999, 60_000, 3_599_999, DAY - 1, DAY]) out.push(d + off);
  return out;
}

test('writes what Date#toISOString writes, whatever order instants come in', () => {
  const samples = edges();
  // Pseudo-random instants from 1900 to 2100, some within a day of the one before (the cached day).
  let seed = 42;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let prev = Date.parse('2026-11-30T09:00:00.000Z');
  for (let i = 0; i < 20_000; i++) {
    const r = next();
    prev = r < 0.5 ? prev + Math.floor(next() * 2 * DAY) - DAY : Math.floor(-2_208_988_800_000 + next() * 6.3e12);
    samples.push(prev);
  }
  for (const ms of samples) assert.is(isoTime(ms), new Date(ms).toISOString(), String(ms));
  // Backwards across the same instants: every day boundary is crossed the other way.
  for (const ms of [...samples].reverse()) assert.is(isoTime(ms), new Date(ms).toISOString(), String(ms));
});

test('years outside 0000-9999 and fractions of a millisecond are what Date#toISOString makes of them', () => {
  const day = Date.parse('2026-11-30T00:00:00.000Z');
  isoTime(day);
  for (const ms of [day + 0.5, day + 1234.9, day - 0.5, -62_198_755_200_001, 253_402_300_800_000, -0]) {
    assert.is(isoTime(ms), new Date(ms).toISOString(), String(ms));
  }
  // After an instant that is not cached, the day that was is still written right.
  assert.is(isoTime(day + 1), '2026-11-30T00:00:00.001Z');
});

test('instants of a few days written in turn (now, the end of a hold, of an approval) need no Date#toISOString', () => {
  const now = Date.parse('2026-11-30T09:30:00.000Z');
  const instants = [now, now + 7 * DAY, now + DAY, now + 3_000];
  const original = Date.prototype.toISOString;
  let calls = 0;
  Date.prototype.toISOString = function (this: Date) {
    calls++;
    return original.call(this);
  };
  const written: string[] = [];
  try {
    for (let i = 0; i < 100; i++) for (const ms of instants) written.push(isoTime(ms + i));
  } finally {
    Date.prototype.toISOString = original;
  }
  assert.ok(calls <= 3, `${calls} calls`);
  let k = 0;
  for (let i = 0; i < 100; i++) for (const ms of instants) assert.is(written[k++], new Date(ms + i).toISOString());
});

test('the same instant written again, between instants of other days, is not written anew', () => {
  // The string is kept and handed out again, so the fields of a record that hold one instant share one
  // string. String identity is not observable, so this counts the strings isoTime makes.
  const now = Date.parse('2026-11-30T10:30:00.000Z');
  const first = isoTime(now);
  isoTime(now + 7 * DAY);
  const original = String.fromCharCode;
  let made = 0;
  String.fromCharCode = (...codes: number[]) => {
    made++;
    return original(...codes);
  };
  let again: string;
  try {
    isoTime(now + 3_000);
    isoTime(now + 7 * DAY + 1);
    again = isoTime(now);
  } finally {
    String.fromCharCode = original;
  }
  assert.is(again, first);
  assert.is(made, 2, 'only the two new instants');
});

test('an instant that is no time at all throws as Date#toISOString does', () => {
  assert.throws(() => isoTime(Number.NaN), RangeError);
  assert.throws(() => isoTime(8.64e15 + 1), RangeError);
});

test.run();
