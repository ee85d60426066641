/** The source of time for every decision; injected so tests and replays are deterministic. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  private ms: number;
  constructor(start: number | string | Date) {
    this.ms = typeof start === 'number' ? start : new Date(start).getTime();
  }
  now(): number {
    return this.ms;
  }
  set(to: number | string | Date): void {
    this.ms = typeof to === 'number' ? to : new Date(to).getTime();
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** RFC 3339 UTC with millisecond precision, the only time format the engine stores and hands to policies. */
export function isoTime(ms: number): string {
  // One decision formats the same instant several times; Date#toISOString is not cheap.
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

let lastMs = Number.NaN;
let lastIso = '';

/** The first and last instants {@link isoTime} writes as RFC 3339: four-digit years only. */
const FIRST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');
const LEAP_SECOND = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:)60(?=[.,Zz+-])/;

/**
 * The instant of an RFC 3339 date-time (what the `date-time` format of the schemas admits), or NaN when it
 * is none or lies outside the years 0000 to 9999 in UTC, which {@link isoTime} cannot write back as RFC
 * 3339. A leap second (second 60) counts as second 0 of the next minute.
 */
export function parseTime(value: string): number {
  const leap = LEAP_SECOND.exec(value);
  const ms = leap ? Date.parse(`${leap[1]}59${value.slice(leap[0].length)}`) + 1000 : Date.parse(value);
  return ms >= FIRST_MS && ms <= LAST_MS ? ms : Number.NaN;
}
