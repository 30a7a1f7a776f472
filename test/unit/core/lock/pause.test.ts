import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acquire, liveEntries, parseLock, release } from '../../../../src/core/lock/codec.ts';
import {
  describePause,
  type PauseRecord,
  parsePause,
  pausedLock,
  pendingManualLock,
  resumedLock,
} from '../../../../src/core/lock/pause.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const CREATED = '2026-11-23T12:00:00Z';
const MANUAL = `{"nodeID":"manual","metadata":{"unschedulable":false},"created":"${CREATED}","TTL":0}`;
const entry = (id: string) =>
  `{"nodeID":"${id}","metadata":{"unschedulable":false},"created":"2026-11-23T11:59:00Z","TTL":0}`;
const record = (lock: PauseRecord['lock']): PauseRecord => ({
  by: 'alice',
  at: CREATED,
  reason: 'release freeze',
  created: CREATED,
  lock,
});

test("pause on a free lock writes kured's single-form manual lock, which stops everyone", () => {
  const out = pausedLock(parseLock(undefined), 1, CREATED, NOW);
  assert.deepEqual(out, { annotation: MANUAL, lock: 'written' });
  const v = parseLock(MANUAL);
  assert.equal(v.form, 'manual');
  assert.equal(
    acquire(v, { nodeID: 'n1', unschedulable: false, concurrency: 1, ttlMs: 0, now: NOW }).ok,
    false,
  );
});

test('pause keeps the multi form: holders stay, maxOwners manual entries fill every slot', () => {
  const current = parseLock(`{"maxOwners":2,"locks":[${entry('a')}]}`);
  const out = pausedLock(current, 2, CREATED, NOW);
  assert.equal(out.annotation, `{"maxOwners":2,"locks":[${entry('a')},${MANUAL},${MANUAL}]}`);
  const v = parseLock(out.annotation as string);
  assert.deepEqual(
    liveEntries(v, NOW).map((e) => e.nodeID),
    ['a'],
  );
  for (const c of [1, 2, 5])
    assert.equal(
      acquire(v, { nodeID: 'b', unschedulable: false, concurrency: c, ttlMs: 0, now: NOW }).ok,
      false,
    );
  // The holder finishes and releases: only its entry goes, the stop stays.
  const after = release(v, 'a', 2, NOW);
  assert.equal(after, `{"maxOwners":2,"locks":[${MANUAL},${MANUAL}]}`);
  // Resume removes exactly what pause wrote.
  assert.equal(
    resumedLock(parseLock(out.annotation as string), record('written'), NOW),
    `{"maxOwners":2,"locks":[${entry('a')}]}`,
  );
  assert.equal(resumedLock(parseLock(after as string), record('written'), NOW), undefined);
});

test("pause on a held single-form lock is pending; the holder's release writes the manual lock", () => {
  const out = pausedLock(parseLock(entry('a')), 1, CREATED, NOW);
  assert.deepEqual(out, { annotation: false, lock: 'pending' });
  assert.equal(pendingManualLock(record('pending')), MANUAL);
});

test('resume leaves a manual lock it did not write alone, and a release never removes a manual lock', () => {
  const foreign = parseLock('{"nodeID":"manual"}');
  assert.deepEqual(pausedLock(foreign, 1, CREATED, NOW), { annotation: false, lock: 'foreign' });
  assert.equal(resumedLock(foreign, record('foreign'), NOW), false);
  assert.equal(resumedLock(foreign, record('written'), NOW), false);
  assert.equal(release(foreign, 'n1', 1, NOW), false);
  assert.equal(resumedLock(parseLock(MANUAL), record('written'), NOW), undefined);
});

test('a malformed lock is never overwritten by pause', () => {
  assert.throws(() => pausedLock(parseLock('{nope'), 1, CREATED, NOW), /malformed/);
});

test('the pause record reads back; an unreadable one still counts as a pause', () => {
  assert.deepEqual(parsePause(JSON.stringify(record('written'))), record('written'));
  const bad = parsePause('{"by":1}');
  assert.ok(bad && 'malformed' in bad);
  assert.equal(parsePause(undefined), undefined);
  assert.equal(
    describePause(record('written'), new Date('2026-11-23T12:05:00Z')),
    'paused by alice 5m ago: release freeze',
  );
});
