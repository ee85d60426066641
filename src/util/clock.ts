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

const DAY_MS = 86_400_000;
const ZERO = 48;

/**
 * The UTC days {@link isoTime} wrote last: their first millisecond and the character codes of an instant
 * of that day (`YYYY-MM-DDT00:00:00.000Z`), whose time of day is overwritten per call. A few days, because
 * one decision writes instants of several (now, a hold's end days later, an approval's end).
 */
const DAYS = 4;
const dayStartMs: number[] = new Array<number>(DAYS).fill(Number.NaN);
const dayCodes: number[][] = Array.from({ length: DAYS }, () => new Array<number>(24).fill(ZERO));
let nextDay = 0;

/**
 * The instants written last and their strings: the same instant is written several times per decision
 * (its creation, the record's times, the policy input's now, the audit event's time), between others (a
 * hold's end, a lease's end), and every field then holds the one string instead of a copy each.
 */
const RECENT = 4;
const recentMs: number[] = new Array<number>(RECENT).fill(Number.NaN);
const recentIso: string[] = new Array<string>(RECENT).fill('');
let nextRecent = 0;

function remember(ms: number, iso: string): string {
  recentMs[nextRecent] = ms;
  recentIso[nextRecent] = iso;
  nextRecent = (nextRecent + 1) % RECENT;
  return iso;
}

/** RFC 3339 UTC with millisecond precision, the only time format the engine stores and hands to policies. */
export function isoTime(ms: number): string {
  // The date part is kept per UTC day and the time of day is written as character codes, several times
  // cheaper than Date#toISOString; String.fromCharCode makes one flat string (a template literal would
  // make a tree of concatenations, several times larger in every record that keeps it). Anything else (a
  // day not kept, a fraction of a millisecond, a year that is not four digits, NaN) goes through
  // Date#toISOString and gives exactly what it gives.
  if (Number.isInteger(ms)) {
    for (let i = 0; i < RECENT; i++) if (recentMs[i] === ms) return recentIso[i] as string;
    for (let i = 0; i < DAYS; i++) {
      const intoDay = ms - (dayStartMs[i] as number);
      if (intoDay >= 0 && intoDay < DAY_MS) {
        const c = dayCodes[i] as number[];
        const milli = intoDay % 1000;
        const seconds = (intoDay - milli) / 1000;
        const sec = seconds % 60;
        const minutes = (seconds - sec) / 60;
        const min = minutes % 60;
        const hour = (minutes - min) / 60;
        c[11] = ZERO + Math.floor(hour / 10);
        c[12] = ZERO + (hour % 10);
        c[14] = ZERO + Math.floor(min / 10);
        c[15] = ZERO + (min % 10);
        c[17] = ZERO + Math.floor(sec / 10);
        c[18] = ZERO + (sec % 10);
        c[20] = ZERO + Math.floor(milli / 100);
        c[21] = ZERO + (Math.floor(milli / 10) % 10);
        c[22] = ZERO + (milli % 10);
        return remember(ms, String.fromCharCode.apply(null, c));
      }
    }
  }
  const iso = new Date(ms).toISOString();
  if (iso.length === 24 && Number.isInteger(ms)) {
    dayStartMs[nextDay] = ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
    const c = dayCodes[nextDay] as number[];
    for (let k = 0; k < 24; k++) c[k] = iso.charCodeAt(k);
    remember(ms, iso);
    nextDay = (nextDay + 1) % DAYS;
  }
  return iso;
}

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
