import type { PolicyLocalTime } from '../policy/index.js';
import { WINDOWS } from '../storage/index.js';

/** The usage windows an authority can limit. */
export { WINDOWS };
/** One usage window. */
export type Window = (typeof WINDOWS)[number];
/** The current period key of each window. */
export type Periods = Record<Window, string>;

const formatters = new Map<string, Intl.DateTimeFormat>();
const minuteCache = new Map<string, { minute: number; periods: Periods }>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `timeZone` is an IANA zone name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** ISO-8601 week (Monday first) of a calendar date, as GGGG-Www. */
export function isoWeek(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const jan1 = Date.UTC(weekYear, 0, 1);
  const week = Math.ceil(((date.getTime() - jan1) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${pad(week)}`;
}

/**
 * The calendar periods containing `nowMs` in `timeZone`: daily YYYY-MM-DD, weekly GGGG-Www,
 * monthly YYYY-MM, total "all". Results are cached per zone and minute: zone offsets and
 * transitions fall on whole minutes, so a minute never spans two local dates.
 */
export function periodsAt(nowMs: number, timeZone: string): Periods {
  const minute = Math.floor(nowMs / 60_000);
  const hit = minuteCache.get(timeZone);
  if (hit && hit.minute === minute) return hit.periods;
  const parts = formatter(timeZone).formatToParts(new Date(nowMs));
  let year = 0;
  let month = 0;
  let day = 0;
  for (const p of parts) {
    if (p.type === 'year') year = Number(p.value);
    else if (p.type === 'month') month = Number(p.value);
    else if (p.type === 'day') day = Number(p.value);
  }
  const periods: Periods = {
    daily: `${year}-${pad(month)}-${pad(day)}`,
    weekly: isoWeek(year, month, day),
    monthly: `${year}-${pad(month)}`,
    total: 'all',
  };
  minuteCache.set(timeZone, { minute, periods });
  return periods;
}

const clockFormatters = new Map<string, Intl.DateTimeFormat>();
const localCache = new Map<string, { minute: number; local: PolicyLocalTime }>();
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/**
 * The spend input's `local_time`: weekday and minute of day of `nowMs` on the wall clock of `timeZone` (Intl, the runtime's time zone data),
 * cached per zone and minute like {@link periodsAt}. Across a daylight saving change this is the clock on the
 * wall: in spring the skipped hour never occurs (02:00–02:59 in most of Europe and America), in autumn the
 * repeated hour occurs twice, and both instants have the same local time.
 */
export function localTimeAt(nowMs: number, timeZone: string): PolicyLocalTime {
  const minute = Math.floor(nowMs / 60_000);
  const hit = localCache.get(timeZone);
  if (hit && hit.minute === minute) return hit.local;
  let f = clockFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    clockFormatters.set(timeZone, f);
  }
  let weekday = 0;
  let hour = 0;
  let min = 0;
  for (const p of f.formatToParts(new Date(nowMs))) {
    if (p.type === 'weekday') weekday = WEEKDAYS[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') min = Number(p.value);
  }
  const local = { weekday, minute_of_day: hour * 60 + min };
  localCache.set(timeZone, { minute, local });
  return local;
}
