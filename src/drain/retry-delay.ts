/**
 * How long to wait before the next eviction attempt. Pure; `random` is injectable for tests.
 * Jitter keeps the agents of many nodes from retrying against the same budget in lockstep.
 */

/** After a 429: the server's Retry-After when it gave one (10 s while a budget is being processed), else the base with ±20% jitter. */
export function budgetRetryDelayMs(
  retryAfterMs: number | undefined,
  baseMs: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && retryAfterMs > 0) return retryAfterMs;
  return jitter(baseMs, random);
}

const MAX_ERROR_DELAY_MS = 60_000;

/** After a server or network error: exponential from the base (attempt 1 = base), capped at 1 min, jittered. */
export function errorRetryDelayMs(
  attempt: number,
  baseMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 16));
  return jitter(Math.min(baseMs * 2 ** exponent, MAX_ERROR_DELAY_MS), random);
}

function jitter(ms: number, random: () => number): number {
  return Math.round(ms * (0.8 + 0.4 * random()));
}
