import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rolloutOrder } from '../../../src/cli/order.ts';
import { duration, table } from '../../../src/cli/output.ts';

test('holders first, then first come first served, blocked nodes last; waves of --concurrency', () => {
  const order = rolloutOrder(
    [
      { name: 'c', holder: false, since: 3, blocked: false },
      { name: 'b', holder: false, since: 1, blocked: true },
      { name: 'a', holder: false, since: 3, blocked: false },
      { name: 'h', holder: true, since: 9, blocked: false },
      { name: 'd', holder: false, since: 2, blocked: false },
    ],
    2,
  );
  assert.deepEqual(order, [
    { name: 'h', wave: 1 },
    { name: 'd', wave: 1 },
    { name: 'a', wave: 2 },
    { name: 'c', wave: 2 },
    { name: 'b', wave: 3 },
  ]);
});

test('tables pad every column but the last; durations read like kubectl ages', () => {
  assert.deepEqual(table(['A', 'LONGER'], [['xx', 'y']]), ['A   LONGER', 'xx  y']);
  assert.equal(duration(2.345), '2.3s');
  assert.equal(duration(65), '1m05s');
  assert.equal(duration(3725), '1h02m');
  assert.equal(duration(undefined), '-');
});
