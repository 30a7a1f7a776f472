import assert from 'node:assert/strict';
import { test } from 'node:test';
import { budgetRetryDelayMs, errorRetryDelayMs } from '../../../src/drain/retry-delay.ts';

const low = () => 0;
const mid = () => 0.5;
const high = () => 0.999999;

test('a 429 with Retry-After waits exactly what the server asked', () => {
  assert.equal(budgetRetryDelayMs(10_000, 5000, low), 10_000);
  assert.equal(budgetRetryDelayMs(10_000, 5000, high), 10_000);
});

test('a 429 without Retry-After (or 0) waits the base delay with ±20% jitter', () => {
  assert.equal(budgetRetryDelayMs(undefined, 5000, mid), 5000);
  assert.equal(budgetRetryDelayMs(0, 5000, mid), 5000);
  assert.equal(budgetRetryDelayMs(0, 5000, low), 4000);
  assert.equal(budgetRetryDelayMs(0, 5000, high), 6000);
});

test('server and network errors back off exponentially up to a minute', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10, 100].map((attempt) => errorRetryDelayMs(attempt, 5000, mid)),
    [5000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000],
  );
  assert.equal(errorRetryDelayMs(1, 5000, low), 4000);
});
