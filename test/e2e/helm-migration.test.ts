/**
 * Migrating from kured as docs/install.md says, on the real control plane: kured's DaemonSet holds
 * kured's lock for a node it cordoned mid-reboot; kured's agents are retired (nodeSelector), the
 * DaemonSet object stays; kured-ts is installed with helm with `lock.*` pointing at it, and
 * its agents run with the chart ServiceAccount's token. The lock is not lost: the holder is
 * uncordoned and releases it, and only then does a node waiting for a reboot go.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { helmBinary } from '../../scripts/render-manifests.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { CHART_DIR, find, helm, parseObjects } from '../unit/deploy/render.ts';
import { chartArgs, fleetFromChart, settled } from './helm-support.ts';
import { cordon, LOCK, lockValue, nodeState, waitFor } from './support/scenario.ts';

let cluster: Cluster;
let bin: string;

before(async () => {
  bin = await helmBinary();
  cluster = await startCluster({ nodes: 3, rebootDelayMs: 1500 });
});
after(async () => {
  await cluster?.stop();
});

/** kured's DaemonSet as kured's chart makes it (the DaemonSet controller gives it a pod per node). */
async function createKuredDaemonSet(lock: string): Promise<void> {
  const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  const labels = { 'app.kubernetes.io/name': 'kured', 'app.kubernetes.io/instance': 'kured' };
  await apps.createNamespacedDaemonSet({
    namespace: 'kube-system',
    body: {
      metadata: { name: 'kured', labels, annotations: { [LOCK]: lock } },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            hostPID: true,
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            containers: [{ name: 'kured', image: 'ghcr.io/kubereboot/kured:1.23.0' }],
          },
        },
      },
    },
  });
}

it("keeps kured's lock across the switch: the holder is uncordoned, then the next node goes", async () => {
  const holder = 'node-2';
  const waiting = 'node-3';
  const kuredLock = JSON.stringify({
    nodeID: holder,
    metadata: { unschedulable: false },
    created: new Date().toISOString(),
    TTL: 0,
  });
  await createKuredDaemonSet(kuredLock);
  await cordon(cluster, holder, true);
  cluster.requireReboot(waiting);

  // Step 1 of the migration: retire kured's pods, keep its DaemonSet (and the lock on it).
  const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  await apps.patchNamespacedDaemonSet(
    {
      name: 'kured',
      namespace: 'kube-system',
      body: { spec: { template: { spec: { nodeSelector: { 'kured-ts.dev/retired': 'true' } } } } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  assert.equal(await lockValue(cluster, 'kured'), kuredLock);

  // Step 2: install kured-ts with the lock pointing at kured's DaemonSet (helm, as docs/install.md).
  const lockValues = ['--set', 'lock.daemonSetName=kured', '--set', 'lock.daemonSetNamespace=kube-system'];
  const kube = ['--namespace', 'kured-ts', '--kubeconfig', cluster.kubeconfigPath];
  const install = helm(bin, ['install', 'kured-ts', CHART_DIR, '--create-namespace', ...kube, ...lockValues]);
  assert.equal(install.status, 0, install.stderr);
  const objs = parseObjects(helm(bin, ['get', 'manifest', 'kured-ts', ...kube]).stdout);
  assert.deepEqual(chartArgs(objs).slice(0, 2), ['--ds-name=kured', '--ds-namespace=kube-system']);
  assert.equal(find(objs, 'Role', 'kured-ts-lock').metadata.namespace, 'kube-system');
  const sa = find(objs, 'ServiceAccount').metadata.name;
  const kubeconfig = cluster.kubeconfigForToken(
    await cluster.serviceAccountToken('kured-ts', sa),
    'kured-ts-sa',
  );

  // Mutual exclusion across the switch: the waiting node is never cordoned while the holder is.
  let overlap = '';
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const [h, w] = await Promise.all([nodeState(cluster, holder), nodeState(cluster, waiting)]);
      if (h.unschedulable && w.unschedulable) overlap ||= `${holder} and ${waiting} cordoned together`;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const fleet = fleetFromChart(cluster, objs, kubeconfig);
  try {
    fleet.startAll();
    await waitFor(`${holder} uncordoned`, async () => !(await nodeState(cluster, holder)).unschedulable);
    await settled(cluster, waiting, 1);
    await waitFor('the lock released', async () => (await lockValue(cluster, 'kured')) === undefined);
  } finally {
    watching = false;
    await watcher;
    await fleet.stopAll();
  }
  assert.equal(overlap, '');
  assert.equal(cluster.rebootCount(holder), 0, `${holder} had already rebooted under kured`);
  assert.equal(cluster.rebootCount('node-1'), 0);
});
