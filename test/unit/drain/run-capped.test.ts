import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCapped } from '../../../src/drain/run-capped.ts';

test('never more than cap in flight, results in input order', async () => {
  let inFlight = 0;
  let most = 0;
  const results = await runCapped([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
    inFlight++;
    most = Math.max(most, inFlight);
    for (let i = 0; i < n; i++) await Promise.resolve();
    inFlight--;
    return n * 10;
  });
  assert.equal(most, 3);
  assert.deepEqual(results, [50, 10, 40, 20, 30, 0, 60]);
});

test('no items, no work', async () => {
  assert.deepEqual(await runCapped([], 5, async () => 1), []);
});
