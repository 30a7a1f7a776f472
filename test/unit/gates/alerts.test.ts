import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AlertSample, blockingAlertNames, listNames } from '../../../src/gates/alerts.ts';

const sample = (labels: Record<string, string>, value = '1'): AlertSample => ({
  metric: labels,
  value: [0, value],
});
const SAMPLES: AlertSample[] = [
  sample({ alertname: 'NodeDown', alertstate: 'firing' }),
  sample({ alertname: 'RebootRequired', alertstate: 'firing' }),
  sample({ alertname: 'DiskSlow', alertstate: 'pending' }),
  sample({ alertname: 'NodeDown', alertstate: 'firing', instance: 'b' }),
  sample({ alertname: 'Zeroed', alertstate: 'firing' }, '0'),
  sample({ alertstate: 'firing' }),
];
const none = { regexp: undefined, matchOnly: false, firingOnly: false };

describe('blockingAlertNames (kured semantics)', () => {
  it('counts named, non-zero samples, distinct and sorted', () => {
    assert.deepEqual(blockingAlertNames(SAMPLES, none), ['DiskSlow', 'NodeDown', 'RebootRequired']);
  });
  it('ignores alerts matching the filter by default', () => {
    assert.deepEqual(blockingAlertNames(SAMPLES, { ...none, regexp: /^RebootRequired$/ }), [
      'DiskSlow',
      'NodeDown',
    ]);
  });
  it('with match-only, only matching alerts block', () => {
    assert.deepEqual(blockingAlertNames(SAMPLES, { ...none, regexp: /^Node|^Disk/, matchOnly: true }), [
      'DiskSlow',
      'NodeDown',
    ]);
  });
  it('match-only without a filter behaves like no filter', () => {
    assert.deepEqual(blockingAlertNames(SAMPLES, { ...none, matchOnly: true }).length, 3);
  });
  it('firing-only ignores pending alerts', () => {
    assert.deepEqual(blockingAlertNames(SAMPLES, { ...none, firingOnly: true }), [
      'NodeDown',
      'RebootRequired',
    ]);
  });
  it('a global regexp gives the same answer every time', () => {
    const filter = { ...none, regexp: /Node/g };
    assert.deepEqual(blockingAlertNames(SAMPLES, filter), blockingAlertNames(SAMPLES, filter));
    assert.deepEqual(blockingAlertNames(SAMPLES, filter), ['DiskSlow', 'RebootRequired']);
  });
  it('lists at most ten names', () => {
    const names = Array.from({ length: 12 }, (_, i) => `A${String(i).padStart(2, '0')}`);
    assert.equal(listNames(names), 'A00, A01, A02, A03, A04, A05, A06, A07, A08, A09 and 2 more');
    assert.equal(listNames(['X', 'Y']), 'X, Y');
  });
});
