import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acquire,
  describeHolders,
  goTime,
  liveEntries,
  parseLock,
  putBack,
  release,
} from '../../../../src/core/lock/codec.ts';

const NOW = new Date('2026-11-23T12:00:00.5Z');
const req = (nodeID: string, concurrency = 1, ttlMs = 0) => ({
  nodeID,
  unschedulable: false,
  concurrency,
  ttlMs,
  now: NOW,
});

// Written by kured 1.23 (single form, TTL 1h in nanoseconds).
const KURED_SINGLE =
  '{"nodeID":"node-a","metadata":{"unschedulable":false},"created":"2026-11-23T11:40:44.917242595Z","TTL":3600000000000}';
const KURED_MULTI =
  '{"maxOwners":2,"locks":[{"nodeID":"node-a","metadata":{"unschedulable":true},"created":"2026-11-23T11:40:44.917242595Z","TTL":0}]}';

test('reads a lock written by kured in the single form', () => {
  const v = parseLock(KURED_SINGLE);
  assert.equal(v.form, 'single');
  assert.deepEqual(
    liveEntries(v, NOW).map((e) => e.nodeID),
    ['node-a'],
  );
  assert.equal(acquire(v, req('node-b')).ok, false);
});

test('reads a lock written by kured in the multi-owner form', () => {
  const v = parseLock(KURED_MULTI);
  assert.equal(v.form, 'multi');
  assert.equal(liveEntries(v, NOW)[0]?.metadata.unschedulable, true);
  assert.equal(acquire(v, req('node-b', 2)).ok, true);
  assert.equal(acquire(v, req('node-b', 1)).ok, false);
});

test('writes the single form exactly as kured does, TTL in integer nanoseconds', () => {
  const out = acquire(parseLock(undefined), req('node-a', 1, 3_600_000));
  assert.ok(out.ok);
  assert.equal(
    out.annotation,
    '{"nodeID":"node-a","metadata":{"unschedulable":false},"created":"2026-11-23T12:00:00.5Z","TTL":3600000000000}',
  );
});

test('writes the multi form above concurrency 1 and appends to it', () => {
  const first = acquire(parseLock(undefined), req('a', 2));
  assert.ok(first.ok);
  const second = acquire(parseLock(first.annotation), req('b', 2));
  assert.ok(second.ok);
  const doc = JSON.parse(second.annotation);
  assert.equal(doc.maxOwners, 2);
  assert.deepEqual(
    doc.locks.map((l: { nodeID: string }) => l.nodeID),
    ['a', 'b'],
  );
  assert.equal(acquire(parseLock(second.annotation), req('c', 2)).ok, false);
});

test('acquire is re-entrant and keeps the unschedulable recorded first', () => {
  const v = parseLock(KURED_MULTI);
  const out = acquire(v, { ...req('node-a', 2), unschedulable: false });
  assert.ok(out.ok);
  assert.equal(out.entry.metadata.unschedulable, true);
});

test('an expired entry frees its slot; a legacy entry without created/TTL never expires', () => {
  const expired = parseLock(
    '{"nodeID":"old","metadata":{"unschedulable":false},"created":"2026-11-23T10:00:00Z","TTL":3600000000000}',
  );
  assert.equal(acquire(expired, req('b')).ok, true);
  const legacy = parseLock('{"nodeID":"old"}');
  assert.equal(acquire(legacy, req('b')).ok, false);
});

test('{"nodeID":"manual"} stops everyone, in both forms and at any concurrency', () => {
  for (const raw of ['{"nodeID":"manual"}', '{"maxOwners":3,"locks":[{"nodeID":"manual"}]}']) {
    const v = parseLock(raw);
    assert.equal(v.form, 'manual');
    for (const c of [1, 3]) assert.equal(acquire(v, req('a', c)).ok, false);
    assert.match(describeHolders(v, NOW), /manual/);
  }
});

test('a malformed annotation is held, never overwritten, and says why', () => {
  for (const raw of [
    'not json',
    '[]',
    '{"foo":1}',
    '{"maxOwners":"two"}',
    '{"maxOwners":2,"locks":[{"nodeID":3}]}',
  ]) {
    const v = parseLock(raw);
    assert.equal(v.form, 'malformed', raw);
    const out = acquire(v, req('a', 2));
    assert.equal(out.ok, false);
    assert.match(out.ok ? '' : out.reason, /malformed/);
  }
});

test('switching concurrency never deadlocks: an empty multi lock is free at 1, a single lock counts at N', () => {
  const emptyMulti = parseLock('{"maxOwners":2,"locks":[]}');
  const out = acquire(emptyMulti, req('a', 1));
  assert.ok(out.ok);
  assert.equal(JSON.parse(out.annotation).nodeID, 'a');
  const upgraded = acquire(parseLock(out.annotation), req('b', 2));
  assert.ok(upgraded.ok);
  assert.equal(JSON.parse(upgraded.annotation).locks.length, 2);
});

test('release removes the annotation when nobody is left, else keeps the others', () => {
  assert.equal(release(parseLock(KURED_SINGLE), 'node-a', 1, NOW), undefined);
  const two = parseLock(
    '{"maxOwners":2,"locks":[{"nodeID":"a","metadata":{"unschedulable":false},"created":"2026-11-23T11:59:00Z","TTL":0},{"nodeID":"b","metadata":{"unschedulable":false},"created":"2026-11-23T11:59:00Z","TTL":0}]}',
  );
  const rest = release(two, 'a', 2, NOW);
  assert.deepEqual(
    JSON.parse(rest as string).locks.map((l: { nodeID: string }) => l.nodeID),
    ['b'],
  );
});

test('goTime prints RFC3339Nano the way Go does', () => {
  assert.equal(goTime(new Date('2026-01-02T03:04:05.000Z')), '2026-01-02T03:04:05Z');
  assert.equal(goTime(new Date('2026-01-02T03:04:05.120Z')), '2026-01-02T03:04:05.12Z');
});

// A lock DaemonSet recreated during a rollout comes back empty: holders still in their cycle
// (src/core/cycle.ts, IN_CYCLE_LABEL) count, and the write that finds them puts them back.
const forgottenB = { nodeID: 'node-b', unschedulable: true, zone: 'z1' };

test('a forgotten holder fills the slot: no slot for us, the lock to write names it again', () => {
  const out = acquire({ form: 'none' }, { ...req('node-a'), forgotten: [forgottenB] });
  assert.equal(out.ok, false);
  assert.ok(!out.ok && out.annotation);
  const back = liveEntries(parseLock(!out.ok ? out.annotation : undefined), NOW);
  assert.deepEqual(
    back.map((e) => [e.nodeID, e.metadata.unschedulable]),
    [['node-b', true]],
  );
});

test('a forgotten holder beside a free slot: we take it, and the same write puts it back', () => {
  const out = acquire({ form: 'none' }, { ...req('node-a', 2), forgotten: [forgottenB] });
  assert.ok(out.ok);
  assert.deepEqual(
    liveEntries(parseLock(out.annotation), NOW).map((e) => e.nodeID),
    ['node-b', 'node-a'],
  );
});

test('a forgotten holder the lock already names, or ourselves, changes nothing', () => {
  const withB = acquire({ form: 'none' }, req('node-b', 2));
  assert.ok(withB.ok);
  const out = acquire(parseLock(withB.annotation), { ...req('node-a', 2), forgotten: [forgottenB] });
  assert.ok(out.ok);
  assert.equal(liveEntries(parseLock(out.annotation), NOW).length, 2);
  const self = acquire({ form: 'none' }, { ...req('node-b'), forgotten: [forgottenB] });
  assert.ok(self.ok);
});

test('the zone rule counts a forgotten holder in its zone', () => {
  const out = acquire(
    { form: 'none' },
    {
      ...req('node-a', 3),
      forgotten: [forgottenB],
      zone: { mine: 'z2', holders: { 'node-b': 'z1' }, maxZones: 1 },
    },
  );
  assert.ok(!out.ok);
  assert.match(out.reason, /z1/);
  assert.ok(out.annotation, 'the forgotten holder is put back all the same');
});

test('putBack adds a holder whatever the concurrency, never into a manual stop or an unreadable lock', () => {
  const full = acquire({ form: 'none' }, req('node-a'));
  assert.ok(full.ok);
  const both = putBack(parseLock(full.annotation), [forgottenB], { concurrency: 1, ttlMs: 0, now: NOW });
  assert.ok(both !== false);
  assert.deepEqual(
    liveEntries(parseLock(both), NOW).map((e) => e.nodeID),
    ['node-a', 'node-b'],
  );
  assert.equal(putBack(parseLock(both), [forgottenB], { concurrency: 1, ttlMs: 0, now: NOW }), false);
  assert.equal(
    putBack(parseLock('{"nodeID":"manual"}'), [forgottenB], { concurrency: 1, ttlMs: 0, now: NOW }),
    false,
  );
  assert.equal(putBack(parseLock('{'), [forgottenB], { concurrency: 1, ttlMs: 0, now: NOW }), false);
});
