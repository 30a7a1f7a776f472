/** The hand-over beside the lock: who is named next, the zone rule, the annotation's format. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acquire, parseLock } from '../../../../src/core/lock/codec.ts';
import {
  activeZones,
  enoughToName,
  holderZones,
  letTurnPass,
  nameNext,
  parseQueue,
  pickNext,
  serializeQueue,
  type Waiter,
  zoneAllows,
} from '../../../../src/core/lock/queue.ts';

const w = (name: string, since: number, zone = 'a'): Waiter => ({ name, since, zone });

test('first come, first served; ties by name; holders are not in line', () => {
  const waiters = [w('n3', 30), w('n2', 20), w('n4', 20), w('n1', 10)];
  assert.deepEqual(pickNext(waiters, ['n1'], {}, { concurrency: 2, maxZones: 0 }), ['n2']);
  assert.deepEqual(pickNext(waiters, [], {}, { concurrency: 3, maxZones: 0 }), ['n1', 'n2', 'n4']);
});

test("without the zone rule, the holders' zone gives no place in line", () => {
  const waiters = [w('b1', 1, 'b'), w('a2', 5, 'a'), w('c1', 3, 'c')];
  assert.deepEqual(pickNext(waiters, ['a1'], { a1: 'a' }, { concurrency: 1, maxZones: 0 }), ['b1']);
  assert.deepEqual(pickNext(waiters, ['a1'], { a1: 'a' }, { concurrency: 3, maxZones: 0 }), ['b1', 'c1']);
});

test('the names written add a spare: the next in line after those picked, whatever its zone', () => {
  const waiters = [w('n3', 30), w('n2', 20), w('n4', 40), w('n1', 10)];
  assert.deepEqual(nameNext(waiters, ['n1'], {}, { concurrency: 2, maxZones: 0 }), ['n2', 'n3']);
  assert.deepEqual(nameNext(waiters, ['n1'], {}, { concurrency: 1, maxZones: 0 }), ['n2', 'n3']);
  assert.deepEqual(nameNext([w('n2', 20)], ['n1'], {}, { concurrency: 1, maxZones: 0 }), ['n2']);
  const zoned = [w('b1', 1, 'b'), w('a2', 5, 'a'), w('a3', 6, 'a')];
  assert.deepEqual(nameNext(zoned, ['a1'], { a1: 'a' }, { concurrency: 2, maxZones: 1 }), ['a2', 'a3']);
  assert.deepEqual(nameNext(zoned, ['a1'], { a1: 'a' }, { concurrency: 3, maxZones: 1 }), ['a2', 'a3', 'b1']);
});

test('with the lock full, the first in line alone is named (it takes the next slot)', () => {
  assert.deepEqual(pickNext([w('n3', 30), w('n2', 20)], ['n1'], {}, { concurrency: 1, maxZones: 0 }), ['n2']);
  assert.deepEqual(pickNext([], ['n1'], {}, { concurrency: 1, maxZones: 0 }), []);
});

test('zone rule: the active zone goes first, others wait for it to empty', () => {
  const waiters = [w('b1', 1, 'b'), w('a2', 5, 'a'), w('a3', 6, 'a')];
  const rule = { concurrency: 5, maxZones: 1 };
  assert.deepEqual(pickNext(waiters, ['a1'], { a1: 'a' }, rule), ['a2', 'a3']);
  // Zone a has nobody left waiting: b1 is named but cannot go until a1 releases.
  assert.deepEqual(pickNext([w('b1', 1, 'b')], ['a1'], { a1: 'a' }, rule), ['b1']);
  assert.equal(zoneAllows('b', activeZones(['a1'], { a1: 'a' }), 1), false);
  // a1 released: the longest waiter's zone starts, filling the slots from that zone only.
  assert.deepEqual(pickNext([w('b1', 1, 'b'), w('a2', 5, 'a'), w('b2', 7, 'b')], [], {}, rule), ['b1', 'b2']);
});

test('a named node lets its turn pass only if the zone rule let it in: one kept out waits, one gone is not taken out', () => {
  const line = [w('b1', 1, 'b'), w('a2', 5, 'a')];
  const zoned = { concurrency: 5, maxZones: 1 };
  // a1 holds zone a: b1, named when nobody of zone a waited, is kept out and waits its turn.
  assert.deepEqual(letTurnPass(['b1'], line, ['a1'], { a1: 'a' }, zoned), []);
  assert.deepEqual(letTurnPass(['b1', 'a2'], line, ['a1'], { a1: 'a' }, zoned), ['a2']);
  // Zone a emptied: b1 may go, and sitting past the grace it let its turn pass.
  assert.deepEqual(letTurnPass(['b1'], line, [], {}, zoned), ['b1']);
  assert.deepEqual(letTurnPass(['b1'], line, ['a1'], { a1: 'a' }, { concurrency: 5, maxZones: 0 }), ['b1']);
  // Named, but no longer in line (its entry gone): nothing to take out.
  assert.deepEqual(letTurnPass(['gone'], line, [], {}, zoned), []);
});

test('zone rule: nodes without the label share one zone; a holder with no recorded zone (kured) is a zone of its own', () => {
  assert.deepEqual(pickNext([w('x', 1, ''), w('y', 2, '')], [], {}, { concurrency: 3, maxZones: 1 }), [
    'x',
    'y',
  ]);
  const active = activeZones(['kured-node'], {});
  assert.equal(active.size, 1);
  assert.equal(zoneAllows('a', active, 1), false);
  assert.equal(zoneAllows('a', active, 2), true);
});

test('acquire enforces the zone rule from the recorded zones, and --max-zones=0 ignores zones', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const lock = parseLock(
    '{"maxOwners":5,"locks":[{"nodeID":"a1","metadata":{"unschedulable":false},"created":"2026-11-23T11:59:00Z","TTL":0}]}',
  );
  const req = (zone: string, maxZones: number) => ({
    nodeID: 'n',
    unschedulable: false,
    concurrency: 5,
    ttlMs: 0,
    now,
    zone: { mine: zone, holders: { a1: 'a' }, maxZones },
  });
  assert.equal(acquire(lock, req('a', 1)).ok, true);
  const refused = acquire(lock, req('b', 1));
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.reason, /held in a; b waits its turn/);
  assert.equal(acquire(lock, req('b', 2)).ok, true);
  assert.equal(acquire(lock, req('b', 0)).ok, true);
});

test('the annotation: round trip, unreadable reads as empty, empty is removed', () => {
  const q = { next: ['n2'], zones: { n1: 'a' } };
  assert.deepEqual(parseQueue(serializeQueue(q) ?? undefined), q);
  assert.deepEqual(parseQueue('not json'), { next: [], zones: {} });
  assert.deepEqual(parseQueue('{"next":"n2","zones":{"n1":3}}'), { next: [], zones: {} });
  assert.equal(serializeQueue({ next: [], zones: {} }), null);
});

test('the zones map follows the holders', () => {
  assert.deepEqual(holderZones({ n1: 'a', gone: 'b' }, ['n1'], { name: 'n2', zone: 'c' }), {
    n1: 'a',
    n2: 'c',
  });
});

test('the head of the line decides the names once it holds a waiter per slot and the spare', () => {
  const rule = { concurrency: 2, maxZones: 0 };
  assert.equal(enoughToName([w('n2', 1), w('n3', 2)], [], {}, rule), false, 'two slots and a spare: three');
  assert.equal(enoughToName([w('n2', 1), w('n3', 2), w('n4', 3)], [], {}, rule), true);
  // A holder still in the line (its entry not yet gone) takes no slot.
  assert.equal(enoughToName([w('n1', 0), w('n2', 1), w('n3', 2)], ['n1'], {}, rule), false);
});

test('under the zone rule the head decides only with enough waiters of the zones allowed', () => {
  const rule = { concurrency: 2, maxZones: 1 };
  const line = [w('n2', 1, 'b'), w('n3', 2, 'b'), w('n4', 3, 'a'), w('n5', 4, 'b')];
  // n1 holds a slot in zone a: only zone a may take the other, and the page has one of it.
  assert.equal(enoughToName(line, ['n1'], { n1: 'a' }, rule), false);
  assert.equal(enoughToName([...line, w('n6', 5, 'a'), w('n7', 6, 'a')], ['n1'], { n1: 'a' }, rule), true);
  // Nobody holds: any zone may start.
  assert.equal(enoughToName(line, [], {}, rule), true);
});
