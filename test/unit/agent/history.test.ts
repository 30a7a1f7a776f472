import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  appendHistory,
  type CycleRecord,
  MAX_RECORDS,
  parseHistory,
  recordOf,
} from '../../../src/core/history.ts';

const rec = (i: number): CycleRecord => ({
  start: `2026-11-23T1${i}:00:00.000Z`,
  end: `2026-11-23T1${i}:05:00.000Z`,
  outcome: 'rebooted',
  drainSeconds: i,
  rebootSeconds: 60 + i,
});

test('the history keeps the newest first and at most MAX_RECORDS entries', () => {
  let raw: string | undefined;
  for (let i = 0; i < MAX_RECORDS + 3; i++) raw = appendHistory(raw, rec(i));
  const parsed = parseHistory(raw);
  assert.ok('records' in parsed);
  assert.equal(parsed.records.length, MAX_RECORDS);
  assert.deepEqual(
    parsed.records.map((r) => r.drainSeconds),
    [7, 6, 5, 4, 3],
  );
});

test('the annotation stays small: reasons are cut, so five aborted cycles fit in 2 KB', () => {
  let raw: string | undefined;
  for (let i = 0; i < 10; i++)
    raw = appendHistory(raw, { ...rec(1), outcome: 'aborted', reason: 'x'.repeat(5000) });
  assert.ok(raw!.length < 2048, `${raw!.length} bytes`);
});

test('a malformed history is reported by parse and started afresh by append', () => {
  for (const bad of ['{', '{"a":1}', '[{"start":"x"}]']) {
    const parsed = parseHistory(bad);
    assert.ok('error' in parsed, bad);
    assert.equal(JSON.parse(appendHistory(bad, rec(1))).length, 1);
  }
});

test('a cycle record carries start, the durations and the abort reason', () => {
  const r = recordOf(
    { phase: 'backoff', cordonedByUs: true, since: 'b', started: 'a', drainSeconds: 3.2 },
    'aborted',
    new Date('2026-11-23T12:00:00Z'),
    'drain failed',
  );
  assert.deepEqual(r, {
    start: 'a',
    end: '2026-11-23T12:00:00.000Z',
    outcome: 'aborted',
    drainSeconds: 3.2,
    reason: 'drain failed',
  });
});
