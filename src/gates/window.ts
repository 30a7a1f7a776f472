/**
 * The reboot window (--reboot-days, --start-time, --end-time, --time-zone) with kured's accepted
 * formats. One deliberate difference: a window that wraps midnight belongs to the day it STARTS on,
 * so `fr 22:00-02:00` covers Friday 22:00 to Saturday 02:00 (kured covers Friday 00:00-02:00 and
 * Friday 22:00-24:00 instead).
 */

import { ConfigError } from '../core/errors.ts';
import type { Gate } from '../core/ports.ts';
import { addDays, type LocalDate, resolveTimeZone, toInstant, toLocal, weekday } from './zoned-time.ts';

const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const SHORT = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'];

export class RebootWindow {
  /** Allowed start days, 0 = Sunday. */
  readonly days: ReadonlySet<number>;
  /** Seconds since local midnight; `end` is inclusive to the end of its second. */
  readonly start: number;
  readonly end: number;
  readonly timeZone: string;

  constructor(days: ReadonlySet<number>, start: number, end: number, timeZone: string) {
    this.days = days;
    this.start = start;
    this.end = end;
    this.timeZone = timeZone;
  }

  contains(now: Date): boolean {
    const t = now.getTime();
    return this.openings(t).some(([open, close]) => open <= t && t <= close);
  }

  /** When the window next opens: `now` if it is open, undefined if it never opens (no days). */
  nextOpening(now: Date): Date | undefined {
    const t = now.getTime();
    for (const [open, close] of this.openings(t)) {
      if (open <= t && t <= close) return new Date(t);
      if (open > t) return new Date(open);
    }
    return undefined;
  }

  /** The first instant after the window open at `now` closes (windows that touch count as one); undefined if closed. */
  closesAfter(now: Date): Date | undefined {
    let t = now.getTime();
    let open = false;
    for (const [from, to] of this.openings(t)) {
      if (from <= t + 1 && t <= to) {
        open = true;
        t = to;
      }
    }
    return open ? new Date(t + 1) : undefined;
  }

  /** e.g. `mo,tu 22:00-02:00 Europe/Paris` */
  describe(): string {
    const days =
      this.days.size === 7
        ? 'every day'
        : this.days.size === 0
          ? 'no day'
          : [...this.days]
              .sort()
              .map((d) => SHORT[d])
              .join(',');
    return `${days} ${formatTime(this.start)}-${formatTime(this.end)} ${this.timeZone}`;
  }

  /** [open, close] instants (ms) of the windows starting from yesterday to a week ahead, in order. */
  private openings(t: number): Array<[number, number]> {
    const today = toLocal(t, this.timeZone);
    const result: Array<[number, number]> = [];
    for (let k = -1; k <= 8; k++) {
      const day = addDays(today, k);
      if (!this.days.has(weekday(day))) continue;
      result.push(this.interval(day));
    }
    return result;
  }

  private interval(day: LocalDate): [number, number] {
    const endDay = this.end < this.start ? addDays(day, 1) : day;
    const open = toInstant(day, this.start, this.timeZone, 'earlier');
    // The later occurrence of an ambiguous end keeps the window open while the clock reads inside it.
    const close = toInstant(endDay, this.end, this.timeZone, 'later') + 999;
    return [open, close];
  }
}

export function parseWindow(days: string[], start: string, end: string, timeZone: string): RebootWindow {
  return new RebootWindow(
    parseDays(days),
    parseTimeOfDay(start, '--start-time'),
    parseTimeOfDay(end, '--end-time'),
    resolveTimeZone(timeZone),
  );
}

/** A gate that is closed outside the window. */
export function windowGate(window: RebootWindow): Gate {
  return {
    name: 'window',
    check: async (now) =>
      window.contains(now)
        ? { open: true }
        : {
            open: false,
            reason: `outside the reboot window (${window.describe()})`,
            ...optional('retryAt', window.nextOpening(now)),
          },
  };
}

/** kured's day names: su/sun/sunday… case-insensitive, or 0-6 (0 = Sunday). Empty ⇒ never. */
export function parseDays(days: string[]): Set<number> {
  const result = new Set<number>();
  for (const raw of days.flatMap((d) => d.split(','))) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const index = /^[0-6]$/.test(name)
      ? Number(name)
      : DAY_NAMES.findIndex(
          (full) =>
            name.length >= 2 && (full === name || full.slice(0, 3) === name || full.slice(0, 2) === name),
        );
    if (index < 0) {
      throw new ConfigError(
        `--reboot-days: unknown day "${raw.trim()}"; use su,mo,tu,we,th,fr,sa, full names, or 0-6 (0 = Sunday)`,
      );
    }
    result.add(index);
  }
  return result;
}

/** kured's time formats: 15:04, 15:04:05, 03:04pm, 15, 03pm, 3pm. Returns seconds since midnight. */
export function parseTimeOfDay(value: string, flag: string): number {
  const s = value.trim();
  const fail = (): never => {
    throw new ConfigError(
      `${flag}: cannot read "${value}" as a time of day; use 15:04, 15:04:05, 03:04pm, 15 or 3pm`,
    );
  };
  const h24 = /^(\d{1,2})(?::(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (h24) {
    const [h, m, sec] = [Number(h24[1]), Number(h24[2] ?? 0), Number(h24[3] ?? 0)];
    if (h > 23 || m > 59 || sec > 59) fail();
    return h * 3600 + m * 60 + sec;
  }
  const h12 = /^(\d{1,2})(?::(\d{2}))?(am|pm)$/i.exec(s);
  if (h12) {
    const [h, m] = [Number(h12[1]), Number(h12[2] ?? 0)];
    if (h < 1 || h > 12 || m > 59) fail();
    const pm = h12[3]?.toLowerCase() === 'pm';
    return ((h % 12) + (pm ? 12 : 0)) * 3600 + m * 60;
  }
  return fail();
}

function formatTime(secondOfDay: number): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const [h, m, s] = [Math.floor(secondOfDay / 3600), Math.floor(secondOfDay / 60) % 60, secondOfDay % 60];
  return s === 0 ? `${pad(h)}:${pad(m)}` : `${pad(h)}:${pad(m)}:${pad(s)}`;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
