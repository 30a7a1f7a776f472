/**
 * A known defect, found by bench/chaos.ts (seed 3, 100 nodes, docs/reliability.md): the lock's
 * DaemonSet deleted and created again during a rollout (`helm uninstall` and `install`) forgets
 * its holders. A node already past its drain (rebooting) goes on, and a waiting node takes the free
 * slot: two nodes disrupted at --concurrency=1. Marked todo until the agents rebuild the lock from
 * the Nodes' cycles; it runs, and says so when the defect is gone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { clients, cyclePhase, nodeState, waitFor } from './support/scenario.ts';

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 3, rebootDelayMs: 1000 });
});
after(async () => {
  await cluster?.stop();
});

test('the lock DaemonSet recreated while its holder reboots: no second node disrupted', {
  todo: 'known defect: a recreated lock DaemonSet forgets its holders (docs/reliability.md)',
}, async () => {
  const fleet = new Fleet(cluster, {
    args: ['--period=1h', '--post-reboot-timeout=0'],
    // node-1's reboot request goes nowhere: it stays in its rebooting phase, cordoned, holding the lock.
    nodeArgs: (n) => (n === 'node-1' ? ['--reboot-command=/bin/true'] : []),
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot('node-1');
    fleet.startAll(['node-1']);
    await waitFor('node-1 rebooting', async () => (await cyclePhase(cluster, 'node-1')) === 'rebooting');
    const { apps } = clients(cluster);
    await apps.deleteNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system' });
    await waitFor('the lock DaemonSet gone', () =>
      apps.readNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system' }).then(
        () => false,
        () => true,
      ),
    );
    await fleet.createLockDaemonSet();
    cluster.requireReboot('node-2');
    fleet.startAll(['node-2']);
    // node-2 must not be cordoned while node-1 is.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const [a, b] = await Promise.all([nodeState(cluster, 'node-1'), nodeState(cluster, 'node-2')]);
      assert.ok(
        !(a.unschedulable && b.unschedulable),
        'node-1 and node-2 cordoned at once at --concurrency=1',
      );
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await fleet.stopAll();
  }
});
