import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drainResult } from '../../../src/drain/drain-result.ts';

const budget = 'PodDisruptionBudget ns/pdb allows no disruption: needs 2 healthy pods and has 2';
const twoBudgets = 'more than one PodDisruptionBudget selects it, and the Eviction API accepts at most one';

test('all pods gone: ok with the count', () => {
  assert.deepEqual(
    drainResult(
      [
        { pod: 'ns/a', gone: true },
        { pod: 'ns/b', gone: true },
      ],
      'settled',
    ),
    {
      ok: true,
      evicted: 2,
    },
  );
  assert.deepEqual(drainResult([], 'settled'), { ok: true, evicted: 0 });
});

test('timeout names every pod left and its cause', () => {
  const result = drainResult(
    [
      { pod: 'ns/a', gone: false, cause: budget, permanent: false },
      { pod: 'ns/ok', gone: true },
      { pod: 'ns/b', gone: false, cause: 'evicted but still terminating', permanent: false },
    ],
    'timeout',
  );
  assert.deepEqual(result, {
    ok: false,
    reason: `2 pods not evicted before the drain timeout: ns/a (${budget}), ns/b (evicted but still terminating)`,
    blockingPods: ['ns/a', 'ns/b'],
    permanent: false,
  });
});

test('only permanent causes left: permanent, worded as cannot be evicted', () => {
  const result = drainResult(
    [
      { pod: 'ns/a', gone: false, cause: twoBudgets, permanent: true },
      { pod: 'ns/b', gone: true },
    ],
    'settled',
  );
  assert.deepEqual(result, {
    ok: false,
    reason: `1 pod cannot be evicted: ns/a (${twoBudgets})`,
    blockingPods: ['ns/a'],
    permanent: true,
  });
});

test('a permanent and a timed-out pod together are not permanent', () => {
  const result = drainResult(
    [
      { pod: 'ns/a', gone: false, cause: twoBudgets, permanent: true },
      { pod: 'ns/b', gone: false, cause: budget, permanent: false },
    ],
    'timeout',
  );
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.permanent, false);
  assert.match(
    !result.ok ? result.reason : '',
    /^2 pods not evicted before the drain timeout: ns\/a \(more than one/,
  );
});

test('aborted says so', () => {
  const result = drainResult(
    [{ pod: 'ns/a', gone: false, cause: 'not attempted', permanent: false }],
    'aborted',
  );
  assert.equal(
    !result.ok && result.reason,
    '1 pod not evicted before the drain was stopped: ns/a (not attempted)',
  );
});
