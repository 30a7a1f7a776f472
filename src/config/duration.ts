import { ConfigError } from '../core/errors.ts';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration, so kured's values (`1h`, `90s`, `1h30m`, `1.5h`, `0`) mean the same
 * here. Returns milliseconds.
 */
export function parseGoDuration(value: string, flag: string): number {
  const text = value.trim();
  if (text === '0' || text === '+0' || text === '-0') return 0;
  // µ and μ (micro sign, Greek mu) escaped: one non-Latin-1 character left in the bundle would make
  // V8 hold all of its source as two bytes per character (~0.4 MB more on every node).
  const match = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$/.exec(text);
  if (!match) {
    throw new ConfigError(`--${flag}: "${value}" is not a duration; use Go's form, e.g. 90s, 10m, 1h30m`);
  }
  let ms = 0;
  for (const [, num, unit] of match[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g)) {
    ms += Number(num) * UNIT_MS[unit!]!;
  }
  return match[1] === '-' ? -ms : ms;
}
