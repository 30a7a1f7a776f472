import { pino } from 'pino';
import type { LogFormat } from '../core/config.ts';
import type { Logger } from '../core/log.ts';

/**
 * One line per decision. `json` is pino's native output; `text` is a compact human line
 * (`2026-11-23T10:00:00.000Z INFO cordoned node=n1 reason=...`) written synchronously by us, so
 * the image carries no pretty-printer.
 */
export function createLogger(format: LogFormat, bindings: Record<string, string> = {}): Logger {
  if (format === 'json') return pino({ base: bindings, timestamp: pino.stdTimeFunctions.isoTime });
  return pino(
    { base: bindings, timestamp: pino.stdTimeFunctions.isoTime },
    { write: (line: string) => process.stdout.write(textLine(line)) },
  );
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

function textLine(json: string): string {
  const { time, level, msg, ...fields } = JSON.parse(json) as Record<string, unknown>;
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(time)} ${LEVELS[level as number] ?? level} ${String(msg)}${rest ? ` ${rest}` : ''}\n`;
}
