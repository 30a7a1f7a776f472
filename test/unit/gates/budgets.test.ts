import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gate } from '../../../src/core/ports.ts';
import {
  type BudgetInfo,
  BudgetsForbidden,
  budgetsGate,
  evictionBlockers,
  type PodInfo,
  selectorMatches,
} from '../../../src/gates/budgets.ts';
import { evaluateGates } from '../../../src/gates/index.ts';

const pod = (name: string, labels: Record<string, string>, namespace = 'shop'): PodInfo => ({
  namespace,
  name,
  labels,
});
const budget = (
  name: string,
  selector: BudgetInfo['selector'],
  allowed: number,
  namespace = 'shop',
): BudgetInfo => ({
  namespace,
  name,
  selector,
  disruptionsAllowed: allowed,
});

test('label selectors: matchLabels and the four operators; null selects nothing, {} everything', () => {
  const labels = { app: 'web', tier: 'front' };
  assert.equal(selectorMatches({ matchLabels: { app: 'web' } }, labels), true);
  assert.equal(selectorMatches({ matchLabels: { app: 'db' } }, labels), false);
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] }, labels),
    true,
  );
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels),
    false,
  );
  assert.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, labels), true);
  assert.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, labels), false);
  assert.equal(selectorMatches({}, labels), true);
  assert.equal(selectorMatches(undefined, labels), false);
});

test('a pod under a budget at 0 and a pod under two budgets are reported; others pass', () => {
  const pods = [
    pod('web-1', { app: 'web' }),
    pod('db-1', { app: 'db', role: 'x' }),
    pod('cache-1', { app: 'cache' }),
  ];
  const budgets = [
    budget('web', { matchLabels: { app: 'web' } }, 0),
    budget('db-a', { matchLabels: { app: 'db' } }, 1),
    budget('db-b', { matchLabels: { role: 'x' } }, 1),
    budget('cache', { matchLabels: { app: 'cache' } }, 1),
    budget('other-ns', { matchLabels: { app: 'cache' } }, 0, 'elsewhere'),
  ];
  assert.deepEqual(evictionBlockers(pods, budgets), [
    { pod: 'shop/web-1', budgets: ['shop/web'], why: 'noDisruptionAllowed' },
    { pod: 'shop/db-1', budgets: ['shop/db-a', 'shop/db-b'], why: 'twoBudgets' },
  ]);
});

function source(pods: PodInfo[], budgets: BudgetInfo[] | Error) {
  const calls = { budgets: 0, pods: 0 };
  return {
    calls,
    src: {
      evictablePods: async () => {
        calls.pods++;
        return pods;
      },
      budgets: async () => {
        calls.budgets++;
        if (budgets instanceof Error) throw budgets;
        return budgets;
      },
    },
  };
}

test('the gate closes with the pod and budget named; without the grant it stays open', async () => {
  const { src } = source([pod('web-1', { app: 'web' })], [budget('web', { matchLabels: { app: 'web' } }, 0)]);
  const v = await budgetsGate(src, 'n1').check(new Date());
  assert.equal(v.open, false);
  assert.match(v.open ? '' : v.reason, /pod shop\/web-1: budget shop\/web allows 0 disruptions/);
  const forbidden = source([], new BudgetsForbidden('forbidden'));
  assert.deepEqual(await budgetsGate(forbidden.src, 'n1').check(new Date()), { open: true });
});

test('the pre-flight is asked only when the lock is free for this node', async () => {
  const { src, calls } = source([], []);
  const gates: Gate[] = [budgetsGate(src, 'n1')];
  assert.deepEqual(await evaluateGates(gates, new Date(), { beforeLock: false }), { open: true });
  assert.equal(calls.budgets, 0);
  await evaluateGates(gates, new Date(), { beforeLock: true });
  assert.equal(calls.budgets, 1);
  assert.equal(calls.pods, 0, 'no budget at all: the pods are not listed');
});
