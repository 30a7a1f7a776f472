/**
 * Maintenance schedules in the shape of AKS's maintenance configurations (--maintenance-window,
 * --not-allowed-dates), and how they combine with kured's window: a reboot starts only when both
 * allow it. One window is one line:
 *
 *   weekly sa,su 22:00 4h Europe/Paris       every Saturday and Sunday, 22:00 for 4 hours
 *   monthly 15 02:00 6h UTC+01:00            the 15th (skipped in months without it; `last` = last day)
 *   monthly second-tu 22:00 4h               first|second|third|fourth|last weekday of the month
 *
 * The zone is an IANA name or a UTC offset (UTC by default, as in AKS). The duration is elapsed
 * time from the start, so a window across a DST change lasts what it says. Not-allowed dates
 * (`2026-11-27..2026-11-30` or one date, inclusive) are whole local days in each window's zone,
 * as AKS applies its utcOffset to them; without maintenance windows, in --time-zone.
 */

import { ConfigError } from '../core/errors.ts';
import type { Gate } from '../core/ports.ts';
import { parseTimeOfDay, type RebootWindow } from './window.ts';
import { addDays, type LocalDate, toInstant, toLocal, weekday } from './zoned-time.ts';

const WINDOW_FLAG = '--maintenance-window';
const DATES_FLAG = '--not-allowed-dates';
const DAY_MS = 86_400_000;
/** How far ahead the next opening is looked for: a year of blackouts plus a monthly window. */
const HORIZON_MS = 800 * DAY_MS;
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const ORDINALS = ['first', 'second', 'third', 'fourth'];

/** Which local dates a window starts on. */
export type Recurrence =
  | { kind: 'weekly'; days: ReadonlySet<number> }
  /** day 1-31, or -1 for the month's last day; a month without that day is skipped. */
  | { kind: 'absoluteMonthly'; day: number }
  /** week 1-4, or -1 for the last such weekday of the month. */
  | { kind: 'relativeMonthly'; week: number; weekday: number };

export interface MaintenanceWindow {
  recurrence: Recurrence;
  /** Seconds since local midnight. */
  start: number;
  durationMs: number;
  timeZone: string;
  /** The flag's value, for messages. */
  text: string;
}

/** An inclusive range of local dates. */
export interface DateRange {
  from: LocalDate;
  to: LocalDate;
  text: string;
}

/** A set of instants the reboot may start in. */
export interface TimeSet {
  contains(t: number): boolean;
  /** The next instant after t at which contains() may change; undefined: never again. */
  nextChange(t: number): number | undefined;
}

export function parseMaintenanceWindow(value: string): MaintenanceWindow {
  const fail = (why: string): never => {
    throw new ConfigError(
      `${WINDOW_FLAG}: cannot read "${value}" (${why}); write e.g. "weekly sa,su 22:00 4h Europe/Paris", "monthly 15 02:00 6h UTC+01:00" or "monthly last-su 01:00 3h"`,
    );
  };
  const words = value.trim().split(/\s+/);
  if (words.length < 4 || words.length > 5)
    fail('expected: weekly|monthly, the days, a start time, a duration, [a zone]');
  const [kind, days, start, duration, zone] = words as [string, string, string, string, string?];
  let recurrence: Recurrence;
  if (kind.toLowerCase() === 'weekly') {
    const set = new Set<number>();
    for (const d of days.split(',')) {
      const i = dayIndex(d);
      if (i === undefined) fail(`unknown day "${d}"`);
      set.add(i as number);
    }
    recurrence = { kind: 'weekly', days: set };
  } else if (kind.toLowerCase() === 'monthly') {
    recurrence =
      monthly(days.toLowerCase()) ??
      fail(`"${days}" is neither a day of the month (1-31, last) nor e.g. second-tu`);
  } else {
    return fail(`"${kind}" is not weekly or monthly`);
  }
  let startSecond = 0;
  try {
    startSecond = parseTimeOfDay(start, WINDOW_FLAG);
  } catch (err) {
    fail((err as Error).message.replace(/^--[\w-]+: /, '').replace(/;.*$/, ''));
  }
  const durationMs =
    hoursAndMinutes(duration) ?? fail(`"${duration}" is not a duration such as 4h, 90m or 1h30m`);
  if (durationMs <= 0 || durationMs > 28 * DAY_MS)
    fail('the duration must be more than 0 and at most 28 days');
  const timeZone = zone === undefined ? 'UTC' : (resolveZone(zone) ?? fail(`unknown time zone "${zone}"`));
  return { recurrence, start: startSecond, durationMs, timeZone, text: words.join(' ') };
}

export function parseNotAllowedDates(values: string[]): DateRange[] {
  return values
    .map((v) => v.trim())
    .filter(Boolean)
    .map((text) => {
      const fail = (): never => {
        throw new ConfigError(
          `${DATES_FLAG}: cannot read "${text}"; write a date or an inclusive range, e.g. 2026-12-24 or 2026-11-27..2026-11-30`,
        );
      };
      const [a, b, ...rest] = text.split('..');
      if (rest.length > 0) fail();
      const from = parseDate(a ?? '') ?? fail();
      const to = b === undefined ? from : (parseDate(b) ?? fail());
      if (dateKey(to) < dateKey(from)) fail();
      return { from, to, text };
    });
}

/** The instants a maintenance window is open, minus the not-allowed dates in its zone. */
export function windowSet(w: MaintenanceWindow, blackout: DateRange[]): TimeSet {
  const spans = blackoutSet(blackout, w.timeZone);
  // Occurrences that can still be open at t began at most the duration (plus a day for DST) before.
  const backDays = Math.ceil(w.durationMs / DAY_MS) + 1;
  const occurrence = (date: LocalDate): [number, number] => {
    const open = toInstant(date, w.start, w.timeZone, 'earlier');
    return [open, open + w.durationMs];
  };
  const inWindow = (t: number): boolean => {
    const today = toLocal(t, w.timeZone);
    for (let k = -backDays; k <= 0; k++) {
      const day = addDays(today, k);
      if (!startsOn(w.recurrence, day)) continue;
      const [open, close] = occurrence(day);
      if (open <= t && t < close) return true;
    }
    return false;
  };
  return {
    contains: (t) => inWindow(t) && !spans.contains(t),
    nextChange(t) {
      const today = toLocal(t, w.timeZone);
      let next: number | undefined;
      // 62 days ahead always holds a monthly occurrence (a day 31 is skipped in at most one month in two).
      for (let k = -backDays; k <= 62; k++) {
        const day = addDays(today, k);
        if (!startsOn(w.recurrence, day)) continue;
        for (const edge of occurrence(day)) if (edge > t && (next === undefined || edge < next)) next = edge;
        if (next !== undefined && k > 0) break;
      }
      return earliest(next, spans.nextChange(t));
    },
  };
}

/** The instants in no not-allowed date range, local dates in `timeZone`. */
export function blackoutSet(ranges: DateRange[], timeZone: string): TimeSet {
  const spans = ranges.map((r) => [
    toInstant(r.from, 0, timeZone, 'earlier'),
    toInstant(addDays(r.to, 1), 0, timeZone, 'earlier'),
  ]) as Array<[number, number]>;
  return {
    contains: (t) => spans.some(([a, b]) => a <= t && t < b),
    nextChange: (t) => earliest(...spans.flat().filter((edge) => edge > t)),
  };
}

/** kured's window as a TimeSet (its close is inclusive to the millisecond). */
function kuredSet(w: RebootWindow): TimeSet {
  return {
    contains: (t) => w.contains(new Date(t)),
    nextChange: (t) =>
      (w.contains(new Date(t)) ? w.closesAfter(new Date(t)) : w.nextOpening(new Date(t)))?.getTime(),
  };
}

/**
 * When a reboot may start: inside kured's window, inside one of the maintenance windows (if any),
 * and on no not-allowed date. Answers in words for the gate, plan and status.
 */
export class Schedule {
  readonly kured: RebootWindow;
  readonly windows: MaintenanceWindow[];
  readonly blackout: DateRange[];
  private readonly kuredTimes: TimeSet;
  private readonly maintenance: TimeSet[];
  private readonly kuredBlackout: TimeSet | undefined;

  constructor(kured: RebootWindow, windows: MaintenanceWindow[], blackout: DateRange[]) {
    this.kured = kured;
    this.windows = windows;
    this.blackout = blackout;
    this.kuredTimes = kuredSet(kured);
    this.maintenance = windows.map((w) => windowSet(w, blackout));
    this.kuredBlackout =
      windows.length === 0 && blackout.length > 0 ? blackoutSet(blackout, kured.timeZone) : undefined;
  }

  contains(now: Date): boolean {
    return this.allows(now.getTime());
  }

  /** `now` if a reboot may start now; else the next instant it may, within ~2 years; else undefined. */
  nextOpening(now: Date): Date | undefined {
    let t = now.getTime();
    const end = t + HORIZON_MS;
    while (t <= end) {
      if (this.allows(t)) return new Date(t);
      const next = this.nextChangeAfter(t);
      if (next === undefined || next <= t) return undefined;
      t = next;
    }
    return undefined;
  }

  /**
   * The opening that contains `at` (or the next one), as [open, close) in ms; close is undefined
   * when it stays open for more than `longMs` (kured's default window is always open).
   */
  openingAt(at: Date, longMs = 31 * DAY_MS): { open: Date; close: Date | undefined } | undefined {
    const open = this.nextOpening(at);
    if (!open) return undefined;
    let t = open.getTime();
    while (t - open.getTime() <= longMs) {
      const next = this.nextChangeAfter(t);
      if (next === undefined) return { open, close: undefined };
      if (!this.allows(next)) return { open, close: new Date(next) };
      t = next;
    }
    return { open, close: undefined };
  }

  /** Why no reboot may start at `now`, in words (undefined when one may). */
  closedBecause(now: Date): string | undefined {
    const t = now.getTime();
    if (this.allows(t)) return undefined;
    if (!this.kuredTimes.contains(t)) return `outside the reboot window (${this.kured.describe()})`;
    const zones = this.windows.length ? this.windows.map((w) => w.timeZone) : [this.kured.timeZone];
    const date = this.blackout.find((r) => zones.some((z) => blackoutSet([r], z).contains(t)));
    if (date) return `on a not-allowed date (${date.text})`;
    return `outside the maintenance windows (${this.windows.map((w) => w.text).join('; ')})`;
  }

  /** e.g. `every day 00:00-23:59:59 UTC; maintenance: weekly sa 22:00 4h UTC; not on 2026-12-24` */
  describe(): string {
    const parts = [this.kured.describe()];
    if (this.windows.length) parts.push(`maintenance: ${this.windows.map((w) => w.text).join(' | ')}`);
    if (this.blackout.length) parts.push(`not on ${this.blackout.map((r) => r.text).join(', ')}`);
    return parts.join('; ');
  }

  private nextChangeAfter(t: number): number | undefined {
    return earliest(
      this.kuredTimes.nextChange(t),
      ...this.maintenance.map((m) => m.nextChange(t)),
      this.kuredBlackout?.nextChange(t),
    );
  }

  private allows(t: number): boolean {
    if (!this.kuredTimes.contains(t)) return false;
    if (this.kuredBlackout?.contains(t)) return false;
    return this.maintenance.length === 0 || this.maintenance.some((m) => m.contains(t));
  }
}

function startsOn(r: Recurrence, date: LocalDate): boolean {
  switch (r.kind) {
    case 'weekly':
      return r.days.has(weekday(date));
    case 'absoluteMonthly':
      return r.day === -1 ? addDays(date, 1).month !== date.month : date.day === r.day;
    case 'relativeMonthly': {
      if (weekday(date) !== r.weekday) return false;
      if (r.week === -1) return addDays(date, 7).month !== date.month;
      return Math.ceil(date.day / 7) === r.week;
    }
  }
}

function monthly(spec: string): Recurrence | undefined {
  if (spec === 'last') return { kind: 'absoluteMonthly', day: -1 };
  if (/^\d{1,2}$/.test(spec)) {
    const day = Number(spec);
    return day >= 1 && day <= 31 ? { kind: 'absoluteMonthly', day } : undefined;
  }
  const m = /^(first|second|third|fourth|last)-([a-z]+)$/.exec(spec);
  const wd = m ? dayIndex(m[2]!) : undefined;
  if (!m || wd === undefined) return undefined;
  return { kind: 'relativeMonthly', week: m[1] === 'last' ? -1 : ORDINALS.indexOf(m[1]!) + 1, weekday: wd };
}

/** su, sun, sunday (any case), or 0-6 with 0 = Sunday, as kured's --reboot-days. */
function dayIndex(raw: string): number | undefined {
  const name = raw.trim().toLowerCase();
  if (/^[0-6]$/.test(name)) return Number(name);
  const i = WEEKDAYS.findIndex(
    (full) => name.length >= 2 && (full === name || full.slice(0, 3) === name || full.slice(0, 2) === name),
  );
  return i < 0 ? undefined : i;
}

/** IANA name, UTC, or a UTC offset (`+01:00`, `UTC-05:30`, `+0530`). */
function resolveZone(raw: string): string | undefined {
  const offset = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(raw);
  const name = offset
    ? `${offset[1]}${offset[2]!.padStart(2, '0')}:${offset[3] ?? '00'}`
    : raw.toUpperCase() === 'UTC'
      ? 'UTC'
      : raw;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** A window's length: hours and minutes (4h, 90m, 1h30m), as AKS counts it in hours. */
function hoursAndMinutes(text: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?$/.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined)) return undefined;
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60_000;
}

function parseDate(text: string): LocalDate | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  const d = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const check = new Date(Date.UTC(d.year, d.month - 1, d.day));
  return check.getUTCMonth() === d.month - 1 && check.getUTCDate() === d.day ? d : undefined;
}

function dateKey(d: LocalDate): number {
  return d.year * 10_000 + d.month * 100 + d.day;
}

function earliest(...xs: Array<number | undefined>): number | undefined {
  let best: number | undefined;
  for (const x of xs) if (x !== undefined && (best === undefined || x < best)) best = x;
  return best;
}

/** The window gate over the whole schedule: closed outside it, saying when it opens. */
export function scheduleGate(schedule: Schedule): Gate {
  return {
    name: 'window',
    async check(now) {
      const closed = schedule.closedBecause(now);
      if (closed === undefined) return { open: true };
      const opens = schedule.nextOpening(now);
      return { open: false, reason: closed, ...(opens ? { retryAt: opens } : {}) };
    },
  };
}
