/**
 * Safe beside the cluster autoscaler and Karpenter, on the real control plane: from the cordon until
 * --scale-down-grace after the lock is released, the node carries both "leave me" annotations; then
 * they are put back exactly as they were (an operator's own value stays). Off with the flag.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { CYCLE, clients, lockValue, nodeState, resetNodes, waitFor } from './support/scenario.ts';

const AUTOSCALER = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';
const KARPENTER = 'karpenter.sh/do-not-disrupt';
const RECORD = 'kured-ts.dev/scale-down-protection';

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 2, rebootDelayMs: 1000 });
});
after(() => cluster?.stop());

async function annotate(node: string, annotations: Record<string, string | null>): Promise<void> {
  await clients(cluster).core.patchNode(
    { name: node, body: { metadata: { annotations } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Samples the node every 100 ms: the annotations whenever it was seen cordoned. */
function sampleWhileCordoned(node: string) {
  const seen: Record<string, string | undefined>[] = [];
  let on = true;
  const done = (async () => {
    while (on) {
      const s = await nodeState(cluster, node);
      if (s.unschedulable)
        seen.push({ [AUTOSCALER]: s.annotations[AUTOSCALER], [KARPENTER]: s.annotations[KARPENTER] });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    seen,
    stop: async () => {
      on = false;
      await done;
    },
  };
}

test('kept from the cordon to the grace after the release, then put back as before', {
  timeout: 180_000,
}, async () => {
  await resetNodes(cluster);
  const node = 'node-1';
  // An operator's own value: kept during the cycle as "true", and put back after, never removed.
  await annotate(node, { [KARPENTER]: 'false', [AUTOSCALER]: null, [RECORD]: null });
  const fleet = new Fleet(cluster, {
    dsName: 'kured-scale',
    args: ['--scale-down-grace=4s', '--reboot-request-period=1s'],
  });
  await fleet.createLockDaemonSet();
  const sampler = sampleWhileCordoned(node);
  try {
    const before = cluster.rebootCount(node);
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('the reboot and the release', async () => {
      const s = await nodeState(cluster, node);
      return (
        cluster.rebootCount(node) === before + 1 &&
        !s.unschedulable &&
        !s.annotations[CYCLE] &&
        (await lockValue(cluster, 'kured-scale')) === undefined
      );
    });
    const released = Date.now();
    const right = await nodeState(cluster, node);
    assert.equal(right.annotations[AUTOSCALER], 'true', 'gone before the grace');
    assert.equal(right.annotations[KARPENTER], 'true', 'gone before the grace');
    await waitFor('the annotations put back', async () => {
      const s = await nodeState(cluster, node);
      return s.annotations[RECORD] === undefined ? s : undefined;
    });
    const back = await nodeState(cluster, node);
    assert.ok(Date.now() - released >= 3000, 'put back before the grace ended');
    assert.equal(back.annotations[AUTOSCALER], undefined);
    assert.equal(back.annotations[KARPENTER], 'false');
  } finally {
    await sampler.stop();
    await fleet.stopAll();
  }
  assert.ok(sampler.seen.length > 0, 'never saw the node cordoned');
  for (const s of sampler.seen) assert.deepEqual(s, { [AUTOSCALER]: 'true', [KARPENTER]: 'true' });
});

test('--scale-down-protection=false never touches them', { timeout: 180_000 }, async () => {
  await resetNodes(cluster);
  const node = 'node-2';
  const fleet = new Fleet(cluster, { dsName: 'kured-noscale', args: ['--scale-down-protection=false'] });
  await fleet.createLockDaemonSet();
  const sampler = sampleWhileCordoned(node);
  try {
    const before = cluster.rebootCount(node);
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('the reboot', async () => {
      const s = await nodeState(cluster, node);
      return cluster.rebootCount(node) === before + 1 && !s.unschedulable && !s.annotations[CYCLE];
    });
  } finally {
    await sampler.stop();
    await fleet.stopAll();
  }
  assert.ok(sampler.seen.length > 0, 'never saw the node cordoned');
  for (const s of sampler.seen) assert.deepEqual(s, { [AUTOSCALER]: undefined, [KARPENTER]: undefined });
  const s = await nodeState(cluster, node);
  assert.equal(s.annotations[RECORD], undefined);
});
