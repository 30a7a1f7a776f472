import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rolloutOrder } from '../../../src/cli/order.ts';
import { duration, table } from '../../../src/cli/output.ts';

test('holders first, then first come first served, blocked nodes last; waves of --concurrency', () => {
  const order = rolloutOrder(
    [
      { name: 'c', zone: '', holder: false, since: 3, blocked: false },
      { name: 'b', zone: '', holder: false, since: 1, blocked: true },
      { name: 'a', zone: '', holder: false, since: 3, blocked: false },
      { name: 'h', zone: '', holder: true, since: 9, blocked: false },
      { name: 'd', zone: '', holder: false, since: 2, blocked: false },
    ],
    { concurrency: 2, maxZones: 0 },
  );
  assert.deepEqual(order, [
    { name: 'h', wave: 1 },
    { name: 'd', wave: 1 },
    { name: 'a', wave: 2 },
    { name: 'c', wave: 2 },
    { name: 'b', wave: 3 },
  ]);
});

test("with --max-zones=1, a wave holds one zone, the holders' zone first: the agents' own order", () => {
  const node = (name: string, zone: string, since: number, holder = false) => ({
    name,
    zone,
    since,
    holder,
    blocked: false,
  });
  const order = rolloutOrder(
    [
      node('a1', 'a', 5, true),
      node('b1', 'b', 1),
      node('a2', 'a', 4),
      node('b2', 'b', 2),
      node('c1', 'c', 3),
    ],
    { concurrency: 2, maxZones: 1 },
  );
  assert.deepEqual(order, [
    { name: 'a1', wave: 1 },
    { name: 'a2', wave: 1 },
    { name: 'b1', wave: 2 },
    { name: 'b2', wave: 2 },
    { name: 'c1', wave: 3 },
  ]);
});

test('tables pad every column but the last; durations read like kubectl ages', () => {
  assert.deepEqual(table(['A', 'LONGER'], [['xx', 'y']]), ['A   LONGER', 'xx  y']);
  assert.equal(duration(2.345), '2.3s');
  assert.equal(duration(65), '1m05s');
  assert.equal(duration(3725), '1h02m');
  assert.equal(duration(undefined), '-');
});
