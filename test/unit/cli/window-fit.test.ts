import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitInWindows } from '../../../src/cli/window-fit.ts';
import { parseMaintenanceWindow, parseNotAllowedDates, Schedule } from '../../../src/gates/schedule.ts';
import { parseWindow } from '../../../src/gates/window.ts';

const ALL = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'];
const schedule = (windows: string[], kured = parseWindow(ALL, '0:00', '23:59:59', 'UTC')) =>
  new Schedule(kured, windows.map(parseMaintenanceWindow), parseNotAllowedDates([]));
const wed = new Date('2026-03-04T12:00:00Z');

describe('plan: do the pending waves fit in the next window?', () => {
  it('kured default window (always open): they fit', () => {
    const fit = fitInWindows(schedule([]), wed, [600, 600]);
    assert.equal(fit.fits, true);
    assert.equal(fit.closes, undefined);
    assert.match(fit.summary, /^window open now/);
  });

  it('a 4-hour window and waves of 1 hour: 4 waves start in it, the 5th needs the next window', () => {
    const s = schedule(['weekly sa 22:00 4h']);
    const four = fitInWindows(s, wed, [3600, 3600, 3600, 3600]);
    assert.equal(four.fits, true);
    assert.equal(four.windowsNeeded, 1);
    assert.equal(four.nextOpening, '2026-03-07T22:00:00.000Z');
    assert.equal(four.closes, '2026-03-08T02:00:00.000Z');
    const five = fitInWindows(s, wed, [3600, 3600, 3600, 3600, 3600]);
    assert.equal(five.fits, false);
    assert.equal(five.windowsNeeded, 2);
    assert.match(five.summary, /do not fit in it at the current concurrency: they need 2 windows/);
    const many = fitInWindows(s, wed, Array(10).fill(3600));
    assert.equal(many.windowsNeeded, 3);
  });

  it('inside an open window, counts from now', () => {
    const s = schedule(['weekly sa 22:00 4h']);
    const fit = fitInWindows(s, new Date('2026-03-08T01:30:00Z'), [3600, 3600]);
    assert.equal(fit.windowsNeeded, 2);
    assert.match(fit.summary, /^window open now until 2026-03-08T02:00:00Z/);
  });

  it('no measured cycle: unknown, said so', () => {
    const fit = fitInWindows(schedule(['weekly sa 22:00 4h']), wed, [Number.NaN]);
    assert.equal(fit.fits, undefined);
    assert.match(fit.summary, /unknown \(no measured reboot cycle yet\)/);
  });

  it('a window that never opens', () => {
    const fit = fitInWindows(
      schedule(['weekly sa 22:00 4h'], parseWindow([], '0:00', '1:00', 'UTC')),
      wed,
      [60],
    );
    assert.equal(fit.fits, false);
    assert.equal(fit.nextOpening, undefined);
  });
});
