/**
 * For `plan` and `status`: when the reboot window (kured's window with the maintenance windows and
 * not-allowed dates) next opens, and whether the pending nodes fit in it at the current
 * concurrency, from the cycle times measured in the nodes' history. The window decides when a
 * cycle may START (as in kured): a wave begins while the window is open and may run past its close.
 */
import type { Schedule } from '../gates/schedule.ts';

export interface WindowFit {
  /** Now, if a reboot may start now. */
  nextOpening: string | undefined;
  /** When that opening closes; undefined: it does not (kured's default window is always open). */
  closes: string | undefined;
  /** Do the pending waves all start within that opening? undefined: unknown (no measured cycle). */
  fits: boolean | undefined;
  /** How many openings the pending waves need to start, from the next one on. */
  windowsNeeded: number | undefined;
  /** One line in words. */
  summary: string;
}

/** Beyond this many openings, the answer is "more than": a rollout that long needs a new plan. */
const MAX_WINDOWS = 100;

/** `waveSeconds`: the estimated time of each pending wave, in rollout order (NaN: unknown). */
export function fitInWindows(schedule: Schedule, now: Date, waveSeconds: number[]): WindowFit {
  const first = schedule.openingAt(now);
  if (!first) {
    return {
      nextOpening: undefined,
      closes: undefined,
      fits: waveSeconds.length === 0,
      windowsNeeded: undefined,
      summary: 'the reboot window never opens in the next two years',
    };
  }
  const base = {
    nextOpening: first.open.toISOString(),
    closes: first.close?.toISOString(),
  };
  const when =
    first.open.getTime() <= now.getTime()
      ? `open now${first.close ? ` until ${iso(first.close)}` : ''}`
      : `next opens ${iso(first.open)}${first.close ? ` until ${iso(first.close)}` : ''}`;
  if (waveSeconds.length === 0) return { ...base, fits: true, windowsNeeded: 0, summary: `window ${when}` };
  if (!first.close) return { ...base, fits: true, windowsNeeded: 1, summary: `window ${when}` };
  if (waveSeconds.some((s) => !Number.isFinite(s))) {
    return {
      ...base,
      fits: undefined,
      windowsNeeded: undefined,
      summary: `window ${when}; whether the pending nodes fit is unknown (no measured reboot cycle yet)`,
    };
  }
  let opening = first;
  let windows = 1;
  let t = Math.max(now.getTime(), first.open.getTime());
  for (const seconds of waveSeconds) {
    while (opening.close && t >= opening.close.getTime()) {
      const next = schedule.openingAt(opening.close);
      if (!next || windows >= MAX_WINDOWS) {
        return {
          ...base,
          fits: false,
          windowsNeeded: undefined,
          summary: `window ${when}; the ${waveSeconds.length} pending wave(s) need more than ${windows} windows`,
        };
      }
      opening = next;
      windows++;
      t = next.open.getTime();
    }
    t += seconds * 1000;
  }
  const fits = windows === 1;
  const summary = fits
    ? `window ${when}; the ${waveSeconds.length} pending wave(s) fit in it at the current concurrency`
    : `window ${when}; the ${waveSeconds.length} pending wave(s) do not fit in it at the current concurrency: they need ${windows} windows`;
  return { ...base, fits, windowsNeeded: windows, summary };
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}
