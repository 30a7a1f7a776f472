/**
 * What the chaos fleet drains: workloads from real controllers (two Deployments and a StatefulSet,
 * each under a PodDisruptionBudget, pods that take seconds to terminate), and the lock's DaemonSet as
 * the chart makes it (the agents' flags on its container, so `kured-ts pause` reads the fleet's
 * concurrency; a pod on every node, which the healthy return waits for).
 */
import {
  AppsV1Api,
  type KubeConfig,
  PolicyV1Api,
  type V1PodDisruptionBudgetSpec,
} from '@kubernetes/client-node';
import type { Cluster } from '../../testbed/src/index.ts';

export const APPS_NAMESPACE = 'chaos-apps';
/** Seconds a workload pod takes to terminate (kwok deletes it at its deletionTimestamp). */
const GRACE_SECONDS = 4;

export interface Budget {
  name: string;
  spec: V1PodDisruptionBudgetSpec;
}

export async function createWorkloads(cluster: Cluster, nodes: number): Promise<Budget[]> {
  await cluster.createNamespace(APPS_NAMESPACE);
  const kc = cluster.kubeConfig();
  const apps = kc.makeApiClient(AppsV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  const web = Math.max(4, Math.round(nodes / 6));
  const api = Math.max(3, Math.round(nodes / 10));
  const template = (app: string) => ({
    metadata: { labels: { app } },
    spec: {
      terminationGracePeriodSeconds: GRACE_SECONDS,
      containers: [{ name: app, image: `chaos/${app}:1` }],
    },
  });
  for (const [name, replicas] of [
    ['web', web],
    ['api', api],
  ] as const) {
    await apps.createNamespacedDeployment({
      namespace: APPS_NAMESPACE,
      body: {
        metadata: { name },
        spec: { replicas, selector: { matchLabels: { app: name } }, template: template(name) },
      },
    });
  }
  await apps.createNamespacedStatefulSet({
    namespace: APPS_NAMESPACE,
    body: {
      metadata: { name: 'db' },
      spec: {
        replicas: 3,
        serviceName: 'db',
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: 'db' } },
        template: template('db'),
      },
    },
  });
  const budgets: Budget[] = [
    { name: 'web', spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } } },
    { name: 'api', spec: { minAvailable: api - 1, selector: { matchLabels: { app: 'api' } } } },
    { name: 'db', spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'db' } } } },
  ];
  for (const b of budgets)
    await policy.createNamespacedPodDisruptionBudget({
      namespace: APPS_NAMESPACE,
      body: { metadata: { name: b.name }, spec: b.spec },
    });
  return budgets;
}

export interface LockDaemonSetSpec {
  namespace: string;
  name: string;
  /** The agents' flags, as the chart puts them on the container. */
  args: string[];
}

/** Creates the lock's DaemonSet (as `helm install` does); nothing waits for its pods. */
export async function createLockDaemonSet(kc: KubeConfig, ds: LockDaemonSetSpec): Promise<void> {
  const labels = { app: ds.name };
  await kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace: ds.namespace,
    body: {
      metadata: { name: ds.name },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            terminationGracePeriodSeconds: 1,
            tolerations: [{ operator: 'Exists' }],
            containers: [{ name: 'kured-ts', image: 'kured-ts:dev', args: ds.args }],
          },
        },
      },
    },
  });
}
