/**
 * Wall-clock arithmetic in an IANA time zone with only Intl (Node ships full ICU): reading an
 * instant's local date and time, and finding the instant(s) a local date and time names.
 */
import { ConfigError } from '../core/errors.ts';

/** A calendar date in the zone (month 1-12). */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}
export interface LocalDateTime extends LocalDate {
  /** Seconds since local midnight, 0-86399. */
  secondOfDay: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Resolves `""` to UTC and `Local` to the host's zone, like Go's time.LoadLocation. */
export function resolveTimeZone(timeZone: string): string {
  const name = timeZone.trim();
  if (name === '' || name === 'UTC') return 'UTC';
  if (name === 'Local') return new Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new ConfigError(
      `--time-zone: unknown time zone "${timeZone}"; use an IANA name such as UTC or Europe/Berlin`,
    );
  }
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local date and time of an instant (milliseconds dropped). */
export function toLocal(instantMs: number, timeZone: string): LocalDateTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instantMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const get = (k: string): number => parts[k] ?? 0;
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    secondOfDay: get('hour') * 3600 + get('minute') * 60 + get('second'),
  };
}

/** The UTC offset (ms) in force at an instant. */
function offsetAt(instantMs: number, timeZone: string): number {
  const l = toLocal(instantMs, timeZone);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day) + l.secondOfDay * 1000;
  return asUtc - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

/**
 * The instant a local date and time names. A time that occurs twice (fall back) gives the earlier
 * or the later occurrence as asked; a time that does not exist (spring forward) is moved forward by
 * the gap (02:30 on a 02:00→03:00 day is 03:30), as Go's time.Date and Temporal do.
 */
export function toInstant(
  date: LocalDate,
  secondOfDay: number,
  timeZone: string,
  pick: 'earlier' | 'later',
): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + secondOfDay * 1000;
  const DAY = 86_400_000;
  // At most one transition within a day of any date, so the offsets a day either side bracket it.
  const before = wall - offsetAt(wall - DAY, timeZone);
  const after = wall - offsetAt(wall + DAY, timeZone);
  const names = (t: number): boolean => offsetAt(t, timeZone) === wall - t;
  const valid = [before, after].filter(names);
  if (valid.length === 0) return before;
  return pick === 'earlier' ? Math.min(...valid) : Math.max(...valid);
}

/** The calendar date `days` after `date`. */
export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** 0 = Sunday … 6 = Saturday. */
export function weekday(date: LocalDate): number {
  return new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
}
