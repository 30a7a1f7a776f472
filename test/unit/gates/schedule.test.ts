import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import {
  parseMaintenanceWindow,
  parseNotAllowedDates,
  Schedule,
  scheduleGate,
} from '../../../src/gates/schedule.ts';
import { parseWindow } from '../../../src/gates/window.ts';

const ALL_DAYS = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'];
const kuredDefault = () => parseWindow(ALL_DAYS, '0:00', '23:59:59', 'UTC');
const schedule = (windows: string[], dates: string[] = [], kured = kuredDefault()) =>
  new Schedule(kured, windows.map(parseMaintenanceWindow), parseNotAllowedDates(dates));
const at = (iso: string) => new Date(iso);
const next = (s: Schedule, iso: string) => s.nextOpening(at(iso))?.toISOString();

describe('maintenance window syntax', () => {
  it('reads weekly, absolute monthly and relative monthly windows with zones and offsets', () => {
    const w = parseMaintenanceWindow('weekly sa,Sunday 22:00 4h Europe/Paris');
    assert.deepEqual(w.recurrence, { kind: 'weekly', days: new Set([6, 0]) });
    assert.equal(w.start, 22 * 3600);
    assert.equal(w.durationMs, 4 * 3_600_000);
    assert.equal(w.timeZone, 'Europe/Paris');
    assert.deepEqual(parseMaintenanceWindow('monthly 31 02:00 6h').recurrence, {
      kind: 'absoluteMonthly',
      day: 31,
    });
    assert.equal(parseMaintenanceWindow('monthly 31 02:00 6h').timeZone, 'UTC');
    assert.deepEqual(parseMaintenanceWindow('monthly last 02:00 6h').recurrence, {
      kind: 'absoluteMonthly',
      day: -1,
    });
    assert.deepEqual(parseMaintenanceWindow('monthly second-tu 22:00 4h').recurrence, {
      kind: 'relativeMonthly',
      week: 2,
      weekday: 2,
    });
    assert.deepEqual(parseMaintenanceWindow('monthly last-sunday 1am 3h').recurrence, {
      kind: 'relativeMonthly',
      week: -1,
      weekday: 0,
    });
    assert.equal(parseMaintenanceWindow('weekly mo 0:00 1h UTC+01:00').timeZone, '+01:00');
    assert.equal(parseMaintenanceWindow('weekly mo 0:00 1h -0530').timeZone, '-05:30');
  });

  it('rejects a malformed window with one line naming the flag and showing the form', () => {
    for (const bad of [
      'weekly',
      'daily mo 22:00 4h',
      'weekly xx 22:00 4h',
      'monthly 32 02:00 4h',
      'monthly fifth-mo 02:00 4h',
      'weekly mo 25:00 4h',
      'weekly mo 22:00 4 hours',
      'weekly mo 22:00 0s',
      'weekly mo 22:00 4h Mars/Olympus',
    ]) {
      assert.throws(
        () => parseMaintenanceWindow(bad),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message.startsWith('--maintenance-window:') &&
          e.message.includes(`"${bad}"`) &&
          e.message.includes('weekly sa,su 22:00 4h') &&
          !e.message.includes('\n'),
        bad,
      );
    }
  });

  it('reads not-allowed dates and ranges, and rejects malformed or backward ones', () => {
    const [a, b] = parseNotAllowedDates(['2026-11-27..2026-11-30', '2026-12-24']);
    assert.deepEqual(a?.from, { year: 2026, month: 11, day: 27 });
    assert.deepEqual(a?.to, { year: 2026, month: 11, day: 30 });
    assert.deepEqual(b?.from, b?.to);
    for (const bad of ['2026-02-30', '2026-12-01..2026-11-01', 'christmas', '2026-1-1', '1..2..3']) {
      assert.throws(
        () => parseNotAllowedDates([bad]),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith('--not-allowed-dates:'),
        bad,
      );
    }
  });
});

describe('schedule math', () => {
  it('with no maintenance window and no dates, is exactly kured window', () => {
    const s = schedule([]);
    assert.equal(s.contains(at('2026-03-04T12:00:00Z')), true);
    assert.equal(next(s, '2026-03-04T12:00:00Z'), '2026-03-04T12:00:00.000Z');
    const mondays = schedule([], [], parseWindow(['mo'], '22:00', '02:00', 'UTC'));
    assert.equal(next(mondays, '2026-03-04T12:00:00Z'), '2026-03-09T22:00:00.000Z');
  });

  it('weekly: opens at the start and stays open for the duration across midnight', () => {
    const s = schedule(['weekly sa 22:00 4h']);
    assert.equal(next(s, '2026-03-04T12:00:00Z'), '2026-03-07T22:00:00.000Z'); // a Wednesday
    assert.equal(s.contains(at('2026-03-08T01:59:59Z')), true);
    assert.equal(s.contains(at('2026-03-08T02:00:00Z')), false);
    assert.equal(next(s, '2026-03-08T02:00:00Z'), '2026-03-14T22:00:00.000Z');
  });

  it('absolute monthly on the 31st skips the months without one (February, April)', () => {
    const s = schedule(['monthly 31 02:00 2h']);
    assert.equal(next(s, '2026-01-31T05:00:00Z'), '2026-03-31T02:00:00.000Z');
    assert.equal(next(s, '2026-04-01T00:00:00Z'), '2026-05-31T02:00:00.000Z');
  });

  it('absolute monthly "last" is the last day, February included (leap and not)', () => {
    const s = schedule(['monthly last 02:00 2h']);
    assert.equal(next(s, '2026-02-01T00:00:00Z'), '2026-02-28T02:00:00.000Z');
    assert.equal(next(s, '2028-02-01T00:00:00Z'), '2028-02-29T02:00:00.000Z');
    assert.equal(next(s, '2026-04-01T00:00:00Z'), '2026-04-30T02:00:00.000Z');
  });

  it('relative monthly: the second Tuesday, the first Sunday, the last Sunday', () => {
    // March 2026 begins on a Sunday.
    assert.equal(
      next(schedule(['monthly second-tu 22:00 4h']), '2026-03-01T00:00:00Z'),
      '2026-03-10T22:00:00.000Z',
    );
    assert.equal(
      next(schedule(['monthly first-su 01:00 3h']), '2026-03-02T00:00:00Z'),
      '2026-04-05T01:00:00.000Z',
    );
    assert.equal(
      next(schedule(['monthly last-su 01:00 3h']), '2026-03-01T00:00:00Z'),
      '2026-03-29T01:00:00.000Z',
    );
    // A month with five Sundays (May 2026: 3, 10, 17, 24, 31): the last is the fifth, the fourth is not last.
    assert.equal(
      next(schedule(['monthly last-su 01:00 3h']), '2026-05-01T00:00:00Z'),
      '2026-05-31T01:00:00.000Z',
    );
    assert.equal(
      next(schedule(['monthly fourth-su 01:00 3h']), '2026-05-01T00:00:00Z'),
      '2026-05-24T01:00:00.000Z',
    );
  });

  it('DST: a window keeps its local start on both sides of a change, and its duration is elapsed time', () => {
    const s = schedule(['weekly su 01:00 3h Europe/Berlin']);
    // 2026-03-29: clocks go 02:00 -> 03:00 in Berlin; 01:00 CET is 00:00 UTC, and 3 h later is 03:00 UTC.
    assert.equal(next(s, '2026-03-28T12:00:00Z'), '2026-03-29T00:00:00.000Z');
    assert.equal(s.contains(at('2026-03-29T02:59:59Z')), true);
    assert.equal(s.contains(at('2026-03-29T03:00:00Z')), false);
    // A week later, summer time: 01:00 CEST is 23:00 UTC the day before.
    assert.equal(next(s, '2026-03-29T04:00:00Z'), '2026-04-04T23:00:00.000Z');
    // The last Sunday of October, clocks fall back 03:00 -> 02:00: 01:00 CEST is 23:00 UTC.
    const last = schedule(['monthly last-su 01:00 3h Europe/Berlin']);
    assert.equal(next(last, '2026-10-01T00:00:00Z'), '2026-10-24T23:00:00.000Z');
  });

  it('a start inside the spring-forward gap moves forward by the gap', () => {
    const s = schedule(['weekly su 02:30 1h Europe/Berlin']);
    // 02:30 does not exist on 2026-03-29 in Berlin: 03:30 CEST = 01:30 UTC.
    assert.equal(next(s, '2026-03-28T12:00:00Z'), '2026-03-29T01:30:00.000Z');
  });

  it('a UTC offset is fixed all year', () => {
    const s = schedule(['weekly su 01:00 1h +01:00']);
    assert.equal(next(s, '2026-03-28T12:00:00Z'), '2026-03-29T00:00:00.000Z');
    assert.equal(next(s, '2026-07-01T00:00:00Z'), '2026-07-05T00:00:00.000Z');
  });

  it('not-allowed dates skip the windows on them, in the window zone', () => {
    const s = schedule(['weekly fr,sa 22:00 4h Europe/Paris'], ['2026-11-27..2026-11-28']);
    // Black Friday weekend: Friday 27 and Saturday 28 are out; Sunday 29 begins at 00:00 Paris time,
    // inside Saturday's window, which opens there.
    assert.equal(next(s, '2026-11-26T00:00:00Z'), '2026-11-28T23:00:00.000Z');
    const whole = schedule(['weekly fr,sa 22:00 1h Europe/Paris'], ['2026-11-27..2026-11-30']);
    assert.equal(next(whole, '2026-11-26T00:00:00Z'), '2026-12-04T21:00:00.000Z');
    assert.match(
      whole.closedBecause(at('2026-11-27T21:30:00Z')) ?? '',
      /not-allowed date \(2026-11-27\.\.2026-11-30\)/,
    );
  });

  it('without maintenance windows, not-allowed dates apply to kured window in --time-zone', () => {
    const s = schedule(
      [],
      ['2026-12-24..2026-12-26'],
      parseWindow(ALL_DAYS, '0:00', '23:59:59', 'America/New_York'),
    );
    assert.equal(s.contains(at('2026-12-24T12:00:00Z')), false);
    assert.equal(next(s, '2026-12-24T12:00:00Z'), '2026-12-27T05:00:00.000Z');
  });

  it('with both, a reboot starts only when kured window and a maintenance window allow it', () => {
    const s = schedule(['weekly sa,su 20:00 6h'], [], parseWindow(['su'], '23:00', '23:59:59', 'UTC'));
    assert.equal(next(s, '2026-03-07T12:00:00Z'), '2026-03-08T23:00:00.000Z'); // Saturday -> Sunday 23:00
    assert.match(s.closedBecause(at('2026-03-07T21:00:00Z')) ?? '', /outside the reboot window/);
    const t = schedule(['weekly mo 10:00 1h'], [], parseWindow(['mo'], '10:30', '12:00', 'UTC'));
    assert.equal(next(t, '2026-03-09T09:00:00Z'), '2026-03-09T10:30:00.000Z');
    assert.match(t.closedBecause(at('2026-03-09T11:30:00Z')) ?? '', /outside the maintenance windows/);
  });

  it('several windows: the earliest opening wins', () => {
    const s = schedule(['monthly 15 02:00 6h', 'weekly we 03:00 1h']);
    assert.equal(next(s, '2026-03-12T00:00:00Z'), '2026-03-15T02:00:00.000Z'); // Thursday 12th
    assert.equal(next(s, '2026-03-15T09:00:00Z'), '2026-03-18T03:00:00.000Z');
  });

  it('a schedule that never opens says so (undefined), and the gate then gives no retry time', async () => {
    const s = schedule(['weekly sa 22:00 1h'], [], parseWindow([], '0:00', '23:59:59', 'UTC'));
    assert.equal(s.nextOpening(at('2026-03-04T12:00:00Z')), undefined);
    const v = await scheduleGate(s).check(at('2026-03-04T12:00:00Z'));
    assert.deepEqual(v, { open: false, reason: 'outside the reboot window (no day 00:00-23:59:59 UTC)' });
  });

  it('the gate: closed outside with the next opening, open inside', async () => {
    const gate = scheduleGate(schedule(['monthly second-tu 22:00 4h']));
    const closed = await gate.check(at('2026-03-01T00:00:00Z'));
    assert.equal(closed.open, false);
    assert.equal(!closed.open && closed.retryAt?.toISOString(), '2026-03-10T22:00:00.000Z');
    assert.deepEqual(await gate.check(at('2026-03-11T01:00:00Z')), { open: true });
  });
});

describe('schedule openings', () => {
  it('gives the opening containing an instant, or the next, with its close', () => {
    const s = schedule(['weekly sa 22:00 4h', 'weekly su 01:00 3h']);
    // Saturday 22:00 to Sunday 02:00 and Sunday 01:00-04:00 overlap: one opening 22:00-04:00.
    const o = s.openingAt(at('2026-03-07T23:00:00Z'));
    assert.equal(o?.open.toISOString(), '2026-03-07T23:00:00.000Z');
    assert.equal(o?.close?.toISOString(), '2026-03-08T04:00:00.000Z');
    const n = s.openingAt(at('2026-03-08T05:00:00Z'));
    assert.equal(n?.open.toISOString(), '2026-03-14T22:00:00.000Z');
  });

  it('kured default window never closes: no close', () => {
    const o = schedule([]).openingAt(at('2026-03-07T23:00:00Z'));
    assert.equal(o?.close, undefined);
  });
});
