import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PodLister, type PodRef, podFieldSelector, podsGateWith } from '../../../src/gates/pods.ts';

/** A lister over an in-memory table: selector -> pods. */
function lister(table: Record<string, PodRef[] | Error>, calls: string[][] = []): PodLister {
  return async (labelSelector, fieldSelector, limit) => {
    calls.push([labelSelector, fieldSelector, String(limit)]);
    const result = table[labelSelector] ?? [];
    if (result instanceof Error) throw result;
    return result.slice(0, limit);
  };
}

const now = new Date('2026-11-23T10:00:00Z');

describe('podsGate', () => {
  it("asks for this node's non-terminal pods, ten at most, per selector", async () => {
    const calls: string[][] = [];
    const gate = podsGateWith(lister({}, calls), 'node-1', ['app=db', 'team=x,tier=batch']);
    assert.deepEqual(await gate.check(now), { open: true });
    const fs = 'spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown';
    assert.equal(podFieldSelector('node-1'), fs);
    assert.deepEqual(calls, [
      ['app=db', fs, '10'],
      ['team=x,tier=batch', fs, '10'],
    ]);
  });

  it('any matching pod closes the gate, naming the pods and the selector', async () => {
    const gate = podsGateWith(
      lister({
        'app=db': [],
        'app=batch': [
          { namespace: 'jobs', name: 'nightly-1' },
          { namespace: 'jobs', name: 'nightly-2' },
        ],
      }),
      'node-1',
      ['app=db', 'app=batch'],
    );
    assert.deepEqual(await gate.check(now), {
      open: false,
      reason: 'pods matching "app=batch" on this node: jobs/nightly-1, jobs/nightly-2',
    });
  });

  it('says when there may be more than it listed', async () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ namespace: 'ns', name: `p${i}` }));
    const verdict = await podsGateWith(lister({ a: many }), 'n', ['a']).check(now);
    assert.equal(verdict.open, false);
    assert.match(verdict.open ? '' : verdict.reason, /ns\/p9 and maybe more$/);
  });

  it('a failed list closes the gate with the cause', async () => {
    const verdict = await podsGateWith(lister({ 'app=db': new Error('connect ECONNREFUSED') }), 'n', [
      'app=db',
    ]).check(now);
    assert.deepEqual(verdict, {
      open: false,
      reason: 'cannot list pods matching "app=db" (connect ECONNREFUSED)',
    });
  });

  it('no selectors: always open', async () => {
    assert.deepEqual(await podsGateWith(lister({}), 'n', []).check(now), { open: true });
  });
});
