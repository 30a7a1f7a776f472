/**
 * Found by bench/chaos.ts (seed 3, 100 nodes, docs/reliability.md): the lock's DaemonSet deleted
 * and created again during a rollout (`helm uninstall` and `install`) comes back empty. A node in
 * its cycle carries the lock's uid in a label (kured-ts.dev/in-cycle): a node about to take a slot
 * counts the nodes of another uid as holders and puts them back in the lock, and the holder itself,
 * once back, takes its slot back. At --concurrency=1 the next node waits until the first is done.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { clients, cyclePhase, lockValue, nodeState, waitFor } from './support/scenario.ts';

const HISTORY = 'kured-ts.dev/reboot-history';

let cluster: Cluster;
before(async () => {
  // Down long enough for the DaemonSet to be recreated and node-2 to ask for its turn meanwhile.
  cluster = await startCluster({ nodes: 3, rebootDelayMs: 25_000 });
});
after(async () => {
  await cluster?.stop();
});

test('the lock DaemonSet recreated while its holder is down rebooting: the holder is not forgotten, the next waits its turn', async () => {
  const fleet = new Fleet(cluster, { args: ['--period=1h', '--post-reboot-timeout=0'] });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot('node-1');
    fleet.startAll(['node-1']);
    await waitFor(
      'node-1 down in its reboot',
      async () =>
        (await cyclePhase(cluster, 'node-1')) === 'rebooting' && !(await nodeState(cluster, 'node-1')).ready,
      60_000,
    );
    const { apps } = clients(cluster);
    await apps.deleteNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system' });
    await waitFor('the lock DaemonSet gone', () =>
      apps.readNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system' }).then(
        () => false,
        () => true,
      ),
    );
    await fleet.createLockDaemonSet({}, { ready: false });
    cluster.requireReboot('node-2');
    fleet.startAll(['node-2']);
    // Until node-2 has rebooted: never both disrupted (cordoned, or down) at --concurrency=1.
    let node1Named = false;
    const deadline = Date.now() + 180_000;
    for (;;) {
      const [a, b, lock] = await Promise.all([
        nodeState(cluster, 'node-1'),
        nodeState(cluster, 'node-2'),
        lockValue(cluster, 'kured').catch(() => undefined),
      ]);
      const down = (n: typeof a) => n.unschedulable || !n.ready;
      assert.ok(!(down(a) && down(b)), `node-1 and node-2 disrupted at once (lock: ${lock})`);
      if (lock?.includes('"node-1"')) node1Named = true;
      const done = b.annotations[HISTORY] !== undefined && !down(a) && !down(b) && lock === undefined;
      if (done) break;
      assert.ok(
        Date.now() < deadline,
        `no convergence: node-1 ${JSON.stringify(a)}, node-2 ${JSON.stringify(b)}, lock ${lock}`,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(node1Named, 'the recreated lock never named node-1 again');
    assert.equal((await nodeState(cluster, 'node-1')).labels['kured-ts.dev/in-cycle'], undefined);
    assert.ok((await nodeState(cluster, 'node-1')).annotations[HISTORY], 'node-1 finished its cycle');
  } finally {
    await fleet.stopAll();
  }
});
