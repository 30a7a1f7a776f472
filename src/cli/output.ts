/** Output in kubectl's formats: a padded table (default and `wide`), or the data as JSON or YAML. */
import { stringify } from 'yaml';
import { ConfigError } from '../core/errors.ts';

export type Format = 'table' | 'wide' | 'json' | 'yaml';

export function parseFormat(value: string | undefined): Format {
  if (value === undefined || value === '') return 'table';
  if (value === 'wide' || value === 'json' || value === 'yaml') return value;
  throw new ConfigError(`-o/--output: "${value}" is not one of wide, json, yaml`);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) =>
    r
      .map((v, i) => (i < r.length - 1 ? v.padEnd(widths[i]!) : v))
      .join('  ')
      .trimEnd(),
  );
}

export function data(format: 'json' | 'yaml', value: unknown): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

/** 42s, 3m05s, 1h02m. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${seconds < 10 ? seconds.toFixed(1) : s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
