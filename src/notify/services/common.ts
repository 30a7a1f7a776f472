/** Small helpers shared by the URL parsers of the notification services. */
import { ConfigError } from '../../core/errors.ts';

/** A user-fixable problem with the notification URL; never echoes the URL (it holds secrets). */
export function badUrl(flag: string, service: string, problem: string, expected: string): ConfigError {
  return new ConfigError(`${flag}: ${service} URL ${problem}; expected ${expected}`);
}

/** The path's non-empty segments, decoded. */
export function segments(url: URL): string[] {
  return url.pathname
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
}

export function query(url: URL, key: string): string | undefined {
  for (const [k, v] of url.searchParams) if (k.toLowerCase() === key.toLowerCase()) return v;
  return undefined;
}

/** shoutrrr's booleans: yes/no, true/false, 1/0. */
export function yes(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return ['yes', 'true', '1', 'on'].includes(value.toLowerCase());
}
