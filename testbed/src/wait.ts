import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from './errors.ts';

/**
 * Polls `check` until it returns a value other than undefined/false, or throws `describe()` at the
 * deadline (with the last error `check` threw, if any). `abort` ends the wait early with its message.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs: number; intervalMs?: number; describe: () => string; abort?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw new Error(aborted);
    let value: T | undefined | false;
    try {
      value = await check();
    } catch (err) {
      lastError = err;
      value = undefined;
    }
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(
        lastError === undefined
          ? opts.describe()
          : `${opts.describe()} (last error: ${errorMessage(lastError)})`,
      );
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
