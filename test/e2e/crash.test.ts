/**
 * Crash safety end to end: agents are killed with SIGKILL at each point of the reboot cycle, and
 * the API server is taken down, on the real control plane. After a restart the cluster must
 * converge: the node rebooted once, uncordoned (it was schedulable before), the lock released.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Fleet, type FleetOptions } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { withApiServerDown } from '../../testbed/src/outage.ts';
import {
  CYCLE,
  cyclePhase,
  deleteBudget,
  eventReasons,
  guardedPod,
  lockValue,
  nodeState,
  resetNodes,
  waitFor,
} from './support/scenario.ts';

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 3, rebootDelayMs: 1500 });
});
after(async () => {
  await cluster?.stop();
});

async function withFleet(
  name: string,
  opts: FleetOptions,
  body: (fleet: Fleet) => Promise<void>,
): Promise<void> {
  await resetNodes(cluster);
  const fleet = new Fleet(cluster, { dsName: `kured-${name}`, ...opts });
  await fleet.createLockDaemonSet();
  try {
    await body(fleet);
  } finally {
    await fleet.stopAll();
  }
}

async function converged(node: string, dsName: string, reboots: number): Promise<void> {
  await waitFor(`${node} rebooted ${reboots} time(s), uncordoned, lock released`, async () => {
    const s = await nodeState(cluster, node);
    return (
      cluster.rebootCount(node) === reboots &&
      s.ready &&
      !s.unschedulable &&
      !s.annotations[CYCLE] &&
      (await lockValue(cluster, dsName)) === undefined
    );
  });
  // And it stays that way: no second reboot sneaks in.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(cluster.rebootCount(node), reboots);
}

test('a drain blocked by a PodDisruptionBudget times out: uncordoned at once, lock released, cause reported', async () => {
  await withFleet(
    'pdbtimeout',
    // The budget pre-flight would keep the node from even taking the lock: this is about the drain.
    { args: ['--drain-timeout=3s', '--lock-release-delay=1m', '--budget-preflight=false'] },
    async (fleet) => {
      await guardedPod(cluster, 'pdb-timeout', 'node-1');
      const before = cluster.rebootCount('node-1');
      cluster.requireReboot('node-1');
      fleet.startAll(['node-1']);
      await waitFor('the drain to fail', async () =>
        (await eventReasons(cluster, 'node-1')).includes('DrainFailed'),
      );
      const failedAt = Date.now();
      await waitFor(
        'node-1 uncordoned and the lock released',
        async () => {
          return (
            !(await nodeState(cluster, 'node-1')).unschedulable &&
            (await lockValue(cluster, 'kured-pdbtimeout')) === undefined
          );
        },
        10_000,
      );
      assert.ok(Date.now() - failedAt < 10_000, '--lock-release-delay must not hold the node cordoned');
      assert.equal(await cyclePhase(cluster, 'node-1'), 'backoff');
      assert.equal(cluster.rebootCount('node-1'), before);
      assert.ok(fleet.messages('node-1').some((m) => m === 'drain failed'));
      const reasonLine = fleet.log('node-1').find((l) => l.includes('"drain failed"')) ?? '';
      assert.match(reasonLine, /pdb-timeout\/guard/);
      await deleteBudget(cluster, 'pdb-timeout');
    },
  );
});

test('killed during the drain, restarted: one reboot, uncordoned, lock released', async () => {
  await withFleet('killdrain', { args: ['--budget-preflight=false'] }, async (fleet) => {
    await guardedPod(cluster, 'kill-drain', 'node-2');
    const before = cluster.rebootCount('node-2');
    cluster.requireReboot('node-2');
    fleet.startAll(['node-2']);
    await waitFor('node-2 cordoned and draining', async () => {
      return (
        (await nodeState(cluster, 'node-2')).unschedulable &&
        (await cyclePhase(cluster, 'node-2')) === 'draining'
      );
    });
    await fleet.stop('node-2', 'SIGKILL');
    await deleteBudget(cluster, 'kill-drain');
    fleet.start('node-2');
    await converged('node-2', 'kured-killdrain', before + 1);
  });
});

test('killed between the drain and the reboot, restarted: rebooted once', async () => {
  await withFleet('killreboot', { args: ['--reboot-delay=3s'] }, async (fleet) => {
    const before = cluster.rebootCount('node-3');
    cluster.requireReboot('node-3');
    fleet.startAll(['node-3']);
    await waitFor(
      'the cycle to reach rebooting',
      async () => (await cyclePhase(cluster, 'node-3')) === 'rebooting',
    );
    await fleet.stop('node-3', 'SIGKILL');
    assert.equal(cluster.rebootCount('node-3'), before);
    fleet.start('node-3');
    await converged('node-3', 'kured-killreboot', before + 1);
  });
});

test('agent down across the reboot, back only once the node is Ready: uncordons and releases', async () => {
  await withFleet('killafter', {}, async (fleet) => {
    // The kubelet is slow to restart the agent: the node comes back without it.
    cluster.setAgentHooks({ stop: (n) => fleet.stop(n, 'SIGKILL'), start: async () => {} });
    const before = cluster.rebootCount('node-1');
    const bootBefore = await cluster.bootId('node-1');
    cluster.requireReboot('node-1');
    fleet.start('node-1');
    await waitFor('node-1 back on a new boot, still cordoned', async () => {
      const s = await nodeState(cluster, 'node-1');
      return s.ready && s.unschedulable && (await cluster.bootId('node-1')) !== bootBefore;
    });
    assert.equal(await cyclePhase(cluster, 'node-1'), 'rebooting');
    fleet.start('node-1');
    await converged('node-1', 'kured-killafter', before + 1);
  });
});

test('killed during --lock-release-delay, restarted: the lock is still released', async () => {
  await withFleet('killrelease', { args: ['--lock-release-delay=4s'] }, async (fleet) => {
    const before = cluster.rebootCount('node-2');
    cluster.requireReboot('node-2');
    fleet.startAll(['node-2']);
    await waitFor(
      'the cycle to reach releasing',
      async () => (await cyclePhase(cluster, 'node-2')) === 'releasing',
    );
    assert.equal(
      (await nodeState(cluster, 'node-2')).unschedulable,
      false,
      'uncordoned before the release delay',
    );
    await fleet.stop('node-2', 'SIGKILL');
    fleet.start('node-2');
    await converged('node-2', 'kured-killrelease', before + 1);
  });
});

test('the API server down mid-cycle, the agent killed and restarted while it is down: converges', async () => {
  await withFleet('apidown', { args: ['--reboot-delay=2s'] }, async (fleet) => {
    const before = cluster.rebootCount('node-3');
    cluster.requireReboot('node-3');
    fleet.startAll(['node-3']);
    await waitFor('node-3 cordoned', async () => (await nodeState(cluster, 'node-3')).unschedulable);
    await withApiServerDown(cluster, async () => {
      await fleet.stop('node-3', 'SIGKILL');
      fleet.start('node-3');
      await new Promise((r) => setTimeout(r, 4000));
    });
    await converged('node-3', 'kured-apidown', before + 1);
  });
});
