/**
 * A drop-in with kured 1.23's own RBAC (kured-rbac.yaml: nodes get/patch, pods get/list/delete,
 * pods/eviction create, daemonsets get, and update on its own DaemonSet), on the real control plane:
 * the agents (the bundle) run with the token of a ServiceAccount bound to exactly those roles. They
 * say once at start-up which grant would turn each capability back on, never log a failed reconcile,
 * and the fleet reboots one node at a time. Pure: every agent has kured's RBAC. Mixed: some have
 * the chart's grants (an admin's here), the others kured's, on one lock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { ClusterObserver } from '../../testbed/src/observer.ts';
import { settled } from './helm-support.ts';
import { clients, lockValue, resetNodes } from './support/scenario.ts';

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 4, rebootDelayMs: 1000 });
});
after(() => cluster?.stop());

/** kured 1.23's kured-rbac.yaml, for a ServiceAccount `sa` and the lock DaemonSet `ds` in kube-system. */
async function kuredRbac(sa: string, ds: string): Promise<string> {
  const ns = 'kube-system';
  const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await clients(cluster).core.createNamespacedServiceAccount({
    namespace: ns,
    body: { metadata: { name: sa } },
  });
  const rules: V1PolicyRule[] = [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete', 'get'] },
    { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  ];
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: ns }];
  await rbac.createClusterRole({ body: { metadata: { name: sa }, rules } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa },
      subjects,
    },
  });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: sa },
      // "Allow kured to lock/unlock itself"
      rules: [{ apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: [ds], verbs: ['update'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
      subjects,
    },
  });
  return cluster.kubeconfigForToken(await cluster.serviceAccountToken(ns, sa), sa);
}

const WARNINGS = [
  'RBAC: create on coordination.k8s.io leases in namespace kube-system is not granted',
  'RBAC: list on coordination.k8s.io leases in namespace kube-system is not granted',
  'RBAC: deletecollection on coordination.k8s.io leases in namespace kube-system is not granted',
  'RBAC: list on nodes is not granted',
  'RBAC: watch on nodes node-',
  'RBAC: watch on apps daemonsets kube-system/',
  'RBAC: patch on apps daemonsets kube-system/',
  'RBAC: create on events.k8s.io events in namespace default is not granted',
  'RBAC: watch on pods is not granted',
];

async function rollout(fleet: Fleet, nodes: string[], kuredNodes: string[]): Promise<void> {
  await resetNodes(cluster);
  await fleet.createLockDaemonSet();
  const observer = new ClusterObserver(cluster);
  await observer.start();
  try {
    const before = new Map(nodes.map((n) => [n, cluster.rebootCount(n)]));
    for (const n of nodes) cluster.requireReboot(n);
    fleet.startAll(nodes);
    for (const n of nodes) await settled(cluster, n, before.get(n)! + 1, 120_000);
    assert.equal(observer.maxDisrupted, 1, `disrupted together: ${observer.worstMoment.join(',')}`);
    assert.equal(await lockValue(cluster, fleet.opts.dsName), undefined);
  } finally {
    observer.stop();
    await fleet.stopAll();
  }
  for (const n of nodes) {
    const messages = fleet.messages(n);
    assert.ok(!messages.some((m) => m.includes('reconcile failed')), `${n}: ${messages.join('\n')}`);
    // Said once per start (the reboot restarts the agent), never more.
    const starts = fleet.starts.get(n) ?? 0;
    for (const w of kuredNodes.includes(n) ? WARNINGS : []) {
      const count = messages.filter((m) => m.startsWith(w)).length;
      assert.equal(count, starts, `${n}: "${w}" said ${count} times in ${starts} starts`);
    }
    if (!kuredNodes.includes(n)) assert.ok(!messages.some((m) => m.startsWith('RBAC:')), n);
  }
}

test("a pure fleet with kured 1.23's RBAC reboots every node, one at a time", {
  timeout: 300_000,
}, async () => {
  const kubeconfig = await kuredRbac('kured', 'kured');
  const fleet = new Fleet(cluster, { dsName: 'kured', kubeconfig, args: ['--period=5s'] });
  await rollout(fleet, ['node-1', 'node-2', 'node-3'], ['node-1', 'node-2', 'node-3']);
});

test("a mixed fleet (the chart's grants beside kured 1.23's) shares the lock, one at a time", {
  timeout: 300_000,
}, async () => {
  const kubeconfig = await kuredRbac('kured-mixed', 'kured-mixed');
  const kuredNodes = ['node-2', 'node-4'];
  const fleet = new Fleet(cluster, {
    dsName: 'kured-mixed',
    args: ['--period=5s'],
    // kured's token for some agents; the others keep the admin kubeconfig (all of the chart's grants).
    nodeKubeconfig: (node) => (kuredNodes.includes(node) ? kubeconfig : undefined),
  });
  await rollout(fleet, ['node-1', 'node-2', 'node-3', 'node-4'], kuredNodes);
});
