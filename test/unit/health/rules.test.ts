import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateHealth } from '../../../src/health/evaluate.ts';
import { describeProblems, type PodState, podProblems } from '../../../src/health/rules.ts';

const REBOOT = new Date('2026-11-23T12:00:00.400Z');
const after = new Date('2026-11-23T12:01:00Z');
const before = new Date('2026-11-23T11:00:00Z');
const pod = (over: Partial<PodState>): PodState => ({
  namespace: 'kube-system',
  name: 'cni-x',
  daemonSet: true,
  selected: false,
  deleting: false,
  phase: 'Running',
  ready: true,
  readySince: after,
  startedAt: [after],
  ...over,
});

// What counts as back, one row per pod situation.
const table: { when: string; pod: Partial<PodState>; problem?: string }[] = [
  { when: 'a DaemonSet pod Running and Ready since the reboot', pod: {} },
  { when: 'a DaemonSet pod not Ready', pod: { ready: false }, problem: 'pod kube-system/cni-x not Ready' },
  {
    when: 'a DaemonSet pod Pending',
    pod: { phase: 'Pending', ready: false },
    problem: 'pod kube-system/cni-x Pending',
  },
  {
    when: 'a DaemonSet pod Failed',
    pod: { phase: 'Failed', ready: false },
    problem: 'pod kube-system/cni-x Failed',
  },
  { when: 'a pod of no DaemonSet, not selected, not Ready', pod: { daemonSet: false, ready: false } },
  {
    when: 'a selected pod not Ready',
    pod: { daemonSet: false, selected: true, ready: false },
    problem: 'pod kube-system/cni-x not Ready',
  },
  {
    when: 'a selected pod that completed (a Job)',
    pod: { daemonSet: false, selected: true, phase: 'Succeeded', ready: false },
  },
  { when: 'a DaemonSet pod being deleted', pod: { deleting: true, ready: false } },
  {
    when: 'Ready since before the reboot, containers started before it (a status the kubelet has not updated yet)',
    pod: { readySince: before, startedAt: [before] },
    problem: 'pod kube-system/cni-x not yet restarted since the reboot',
  },
  {
    when: 'Ready since before the reboot, but its containers restarted since',
    pod: { readySince: before, startedAt: [after] },
  },
  {
    when: 'Ready since the reboot, in the same second (timestamps are whole seconds)',
    pod: { readySince: new Date('2026-11-23T12:00:00Z'), startedAt: [] },
  },
  { when: 'no timestamps at all: taken at its word', pod: { readySince: undefined, startedAt: [] } },
];

for (const row of table) {
  test(`podProblems: ${row.when}`, () => {
    assert.deepEqual(podProblems([pod(row.pod)], REBOOT), row.problem ? [row.problem] : []);
  });
}

test('describeProblems names three pods, then how many more', () => {
  const five = ['a', 'b', 'c', 'd', 'e'].map((n) => `pod ns/${n} not Ready`);
  assert.equal(
    describeProblems(five),
    'pod ns/a not Ready, pod ns/b not Ready, pod ns/c not Ready and 2 more',
  );
  assert.equal(describeProblems(five.slice(0, 1)), 'pod ns/a not Ready');
});

test('evaluateHealth: pods first; a failed list fails closed and is asked again; then the alerts', async () => {
  const now = new Date('2026-11-23T12:05:00Z');
  const ok = { problems: async () => [], watch: () => () => {} };
  const closed = {
    name: 'prometheus',
    check: async () => ({ open: false as const, reason: '1 active alert in Prometheus: Disk' }),
  };
  assert.deepEqual(await evaluateHealth({ pods: ok }, REBOOT, now, 60_000), { healthy: true });
  assert.deepEqual(await evaluateHealth({ pods: ok, alerts: closed }, REBOOT, now, 60_000), {
    healthy: false,
    reason: '1 active alert in Prometheus: Disk',
    retryAt: new Date(now.getTime() + 60_000),
  });
  const notReady = { problems: async () => ['pod ns/a not Ready'], watch: () => () => {} };
  assert.deepEqual(await evaluateHealth({ pods: notReady, alerts: closed }, REBOOT, now, 60_000), {
    healthy: false,
    reason: 'pod ns/a not Ready',
  });
  const failing = {
    problems: async () => {
      throw new Error('connection refused');
    },
    watch: () => () => {},
  };
  const verdict = await evaluateHealth({ pods: failing }, REBOOT, now, 60_000);
  assert.equal(verdict.healthy, false);
  assert.match(
    verdict.healthy ? '' : verdict.reason,
    /cannot list the pods on this node \(.*connection refused/,
  );
});
