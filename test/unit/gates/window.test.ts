import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import { parseDays, parseTimeOfDay, parseWindow, windowGate } from '../../../src/gates/window.ts';

const at = (iso: string): Date => new Date(iso);
const ALL_DAYS = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'];

describe('reboot window formats', () => {
  it('reads every kured time format', () => {
    const cases: Array<[string, number]> = [
      ['15:04', 15 * 3600 + 4 * 60],
      ['15:04:05', 15 * 3600 + 4 * 60 + 5],
      ['03:04pm', 15 * 3600 + 4 * 60],
      ['03:04am', 3 * 3600 + 4 * 60],
      ['15', 15 * 3600],
      ['03pm', 15 * 3600],
      ['3pm', 15 * 3600],
      ['3PM', 15 * 3600],
      ['12am', 0],
      ['12pm', 12 * 3600],
      ['0:00', 0],
      ['23:59:59', 86399],
    ];
    for (const [input, seconds] of cases) assert.equal(parseTimeOfDay(input, '--start-time'), seconds, input);
  });

  it('rejects malformed times with one line naming the flag, the value and the formats', () => {
    for (const bad of ['25:00', '3:4', 'noon', '13pm', '0am', '12:60', '']) {
      assert.throws(
        () => parseTimeOfDay(bad, '--end-time'),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message.startsWith('--end-time:') &&
          e.message.includes(`"${bad}"`) &&
          e.message.includes('15:04') &&
          !e.message.includes('\n'),
        bad,
      );
    }
  });

  it('reads day names, abbreviations and numbers case-insensitively', () => {
    for (const d of ['su', 'sun', 'sunday', 'SUNDAY', 'Sun', '0'])
      assert.deepEqual([...parseDays([d])], [0], d);
    assert.deepEqual([...parseDays(['Sa', '6', 'saturday'])], [6]);
    assert.deepEqual([...parseDays(['mo,tu', ' we '])].sort(), [1, 2, 3]);
    assert.equal(parseDays([]).size, 0);
    assert.equal(parseDays(['']).size, 0);
  });

  it('rejects unknown days', () => {
    for (const bad of ['x', '7', 's', 'tues', 'funday']) {
      assert.throws(
        () => parseDays([bad]),
        (e: unknown) =>
          e instanceof ConfigError && e.message.startsWith('--reboot-days:') && e.message.includes(bad),
        bad,
      );
    }
  });

  it('rejects unknown time zones and reads "" as UTC', () => {
    assert.throws(
      () => parseWindow(ALL_DAYS, '0:00', '23:59:59', 'Mars/Olympus'),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes('Mars/Olympus') && e.message.includes('IANA'),
    );
    assert.equal(parseWindow(ALL_DAYS, '0:00', '23:59:59', '').timeZone, 'UTC');
  });
});

describe('reboot window semantics', () => {
  it('is open all day by default, end inclusive to the last millisecond of 23:59:59', () => {
    const w = parseWindow(['mo'], '0:00', '23:59:59', 'UTC');
    assert.equal(w.contains(at('2026-11-23T00:00:00Z')), true); // Monday
    assert.equal(w.contains(at('2026-11-23T23:59:59.999Z')), true);
    assert.equal(w.contains(at('2026-11-24T00:00:00Z')), false); // Tuesday
    assert.equal(w.contains(at('2026-11-22T23:59:59Z')), false); // Sunday
  });

  it('an empty day list never opens', () => {
    const w = parseWindow([], '0:00', '23:59:59', 'UTC');
    assert.equal(w.contains(at('2026-11-23T12:00:00Z')), false);
    assert.equal(w.nextOpening(at('2026-11-23T12:00:00Z')), undefined);
  });

  it('a window wrapping midnight belongs to the day it starts on (unlike kured)', () => {
    const w = parseWindow(['fr'], '22:00', '02:00', 'UTC');
    assert.equal(w.contains(at('2026-11-27T21:59:59Z')), false); // Friday before start
    assert.equal(w.contains(at('2026-11-27T22:00:00Z')), true);
    assert.equal(w.contains(at('2026-11-28T01:30:00Z')), true); // Saturday early morning
    assert.equal(w.contains(at('2026-11-28T02:00:00.500Z')), true); // end inclusive
    assert.equal(w.contains(at('2026-11-28T02:00:01Z')), false);
    assert.equal(w.contains(at('2026-11-27T01:00:00Z')), false); // kured would open here (Friday 00:00-02:00)
    assert.equal(w.contains(at('2026-11-26T23:00:00Z')), false); // Thursday night
  });

  it('follows the time zone', () => {
    const w = parseWindow(['monday'], '9am', '10am', 'America/New_York');
    assert.equal(w.contains(at('2026-11-23T14:30:00Z')), true); // 09:30 EST
    assert.equal(w.contains(at('2026-11-23T13:30:00Z')), false); // 08:30 EST
    assert.equal(w.contains(at('2026-11-23T09:30:00Z')), false); // 09:30 UTC is 04:30 EST
  });

  it('moves a start inside the spring-forward gap forward by the gap (Berlin, 29 March 2026)', () => {
    // 02:00 CET jumps to 03:00 CEST; 02:30 does not exist and means 03:30 CEST (01:30Z), as in Go.
    const w = parseWindow(['su'], '02:30', '04:00', 'Europe/Berlin');
    assert.equal(w.contains(at('2026-03-29T00:59:59Z')), false); // 01:59:59 CET
    assert.equal(w.contains(at('2026-03-29T01:00:00Z')), false); // 03:00 CEST
    assert.equal(w.contains(at('2026-03-29T01:30:00Z')), true); // 03:30 CEST
    assert.equal(w.contains(at('2026-03-29T02:00:00Z')), true); // 04:00 CEST
    assert.equal(w.contains(at('2026-03-29T02:00:01Z')), false);
    assert.deepEqual(w.nextOpening(at('2026-03-28T12:00:00Z')), at('2026-03-29T01:30:00Z'));
  });

  it('a night window across the spring-forward night lasts one hour less in real time', () => {
    const w = parseWindow(['sa'], '22:00', '06:00', 'Europe/Berlin');
    assert.equal(w.contains(at('2026-03-28T21:00:00Z')), true); // Sat 22:00 CET
    assert.equal(w.contains(at('2026-03-29T03:59:59Z')), true); // Sun 05:59:59 CEST
    assert.equal(w.contains(at('2026-03-29T04:00:01Z')), false); // Sun 06:00:01 CEST
  });

  it('keeps the window open through both occurrences of a repeated hour (Berlin, 25 October 2026)', () => {
    // 03:00 CEST falls back to 02:00 CET: 02:15 first occurs at 00:15Z, 02:45 last occurs at 01:45Z.
    const w = parseWindow(['sunday'], '02:15', '02:45', 'Europe/Berlin');
    assert.equal(w.contains(at('2026-10-25T00:14:59Z')), false);
    assert.equal(w.contains(at('2026-10-25T00:15:00Z')), true); // 02:15 CEST
    assert.equal(w.contains(at('2026-10-25T01:45:00Z')), true); // 02:45 CET
    assert.equal(w.contains(at('2026-10-25T01:46:00Z')), false);
  });

  it('a whole fall-back day is 25 hours long', () => {
    const w = parseWindow(['su'], '0:00', '23:59:59', 'Europe/Berlin');
    assert.equal(w.contains(at('2026-10-24T22:00:00Z')), true); // Sun 00:00 CEST
    assert.equal(w.contains(at('2026-10-24T21:59:59Z')), false); // Sat 23:59:59 CEST
    assert.equal(w.contains(at('2026-10-25T22:59:59Z')), true); // Sun 23:59:59 CET
    assert.equal(w.contains(at('2026-10-25T23:00:00Z')), false); // Mon 00:00 CET
  });

  it('nextOpening is now when open, else the next start', () => {
    const w = parseWindow(['fr'], '22:00', '02:00', 'UTC');
    assert.deepEqual(w.nextOpening(at('2026-11-23T10:00:00Z')), at('2026-11-27T22:00:00Z'));
    assert.deepEqual(w.nextOpening(at('2026-11-28T01:00:00Z')), at('2026-11-28T01:00:00Z'));
    assert.deepEqual(w.nextOpening(at('2026-11-28T03:00:00Z')), at('2026-12-04T22:00:00Z'));
  });
});

describe('windowGate', () => {
  it('is closed outside the window with a reason describing it, open inside', async () => {
    const gate = windowGate(parseWindow(['tu', 'mo'], '22:00', '2am', 'Europe/Paris'));
    assert.equal(gate.name, 'window');
    assert.deepEqual(await gate.check(at('2026-11-23T12:00:00Z')), {
      open: false,
      reason: 'outside the reboot window (mo,tu 22:00-02:00 Europe/Paris)',
      retryAt: at('2026-11-23T21:00:00Z'), // Monday 22:00 in Paris (CET)
    });
    assert.deepEqual(await gate.check(at('2026-11-23T22:30:00Z')), { open: true }); // Mon 23:30 CET
  });

  it('describes every day and seconds', () => {
    assert.equal(parseWindow(ALL_DAYS, '0:00', '23:59:59', 'UTC').describe(), 'every day 00:00-23:59:59 UTC');
  });
});
