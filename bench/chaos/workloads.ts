/**
 * What the chaos fleet drains: workloads from real controllers (two Deployments and a StatefulSet,
 * each under a PodDisruptionBudget, and a Deployment with a pod on about every node; pods that take
 * seconds to terminate), and the lock's DaemonSet as the chart makes it (the agents' flags on its
 * container, so `kured-ts pause` reads the fleet's concurrency; a pod on every node, which the
 * healthy return waits for).
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Pod,
  type V1PodDisruptionBudgetSpec,
} from '@kubernetes/client-node';
import type { Cluster } from '../../testbed/src/index.ts';
import type { Rng } from './rng.ts';
import { type Follower, followObjects } from './watch.ts';

export const APPS_NAMESPACE = 'chaos-apps';
/** kwok deletes a pod at once: this finalizer, removed 2-6 s later by {@link SlowExits}, makes it take a while. */
const SLOW_EXIT = 'chaos.kured-ts.dev/slow-exit';
const GRACE_SECONDS = 6;

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
    metadata: { labels: { app }, finalizers: [SLOW_EXIT] },
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
  // A pod on about every node, as real fleets have (an agent, a cache), so that every drain has a
  // workload pod to wait for and `pod-delete-evicting` a target; no budget: anyone may lose one.
  await apps.createNamespacedDeployment({
    namespace: APPS_NAMESPACE,
    body: {
      metadata: { name: 'cache' },
      spec: {
        replicas: nodes,
        selector: { matchLabels: { app: 'cache' } },
        template: {
          ...template('cache'),
          spec: {
            ...template('cache').spec,
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'kubernetes.io/hostname',
                whenUnsatisfiable: 'ScheduleAnyway',
                labelSelector: { matchLabels: { app: 'cache' } },
              },
            ],
          },
        },
      },
    },
  });
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

/** A workload pod as the watch last showed it. */
export interface WorkloadPod {
  name: string;
  node: string;
  terminating: boolean;
}

/**
 * The workload pods' slow exit: a pod being deleted keeps running 2-6 s (its finalizer) before it
 * is gone, as a pod finishing its requests on SIGTERM does; the drain waits for it. The same watch
 * keeps the workload pods by node, for the faults that need one on a given node at once.
 */
export class SlowExits {
  private readonly follower: Follower;
  private readonly pending = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Workload pods bound to a node, by uid. */
  private readonly bound = new Map<string, WorkloadPod>();

  constructor(kc: KubeConfig, rng: Rng) {
    const core = kc.makeApiClient(CoreV1Api);
    const patch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const release = (p: V1Pod) => {
      const name = p.metadata?.name ?? '';
      const uid = p.metadata?.uid ?? '';
      if (
        !p.metadata?.deletionTimestamp ||
        !p.metadata.finalizers?.includes(SLOW_EXIT) ||
        this.pending.has(uid)
      )
        return;
      this.pending.add(uid);
      const finish = () => {
        core
          .patchNamespacedPod(
            { name, namespace: APPS_NAMESPACE, body: { metadata: { uid, finalizers: null } } },
            patch,
          )
          .then(
            () => this.pending.delete(uid),
            (err: { code?: number }) => {
              // Gone or replaced: done; anything else (the API server down) is tried again.
              if (err.code === 404 || err.code === 409) this.pending.delete(uid);
              else this.later(finish, 1000);
            },
          );
      };
      this.later(finish, rng.int(2000, 6000));
    };
    this.follower = followObjects<V1Pod>(
      kc,
      `/api/v1/namespaces/${APPS_NAMESPACE}/pods`,
      async () => {
        const l = await core.listNamespacedPod({ namespace: APPS_NAMESPACE });
        return { items: l.items, rv: l.metadata?.resourceVersion ?? '' };
      },
      (type, p) => {
        this.index(type, p);
        if (type !== 'DELETED') release(p);
      },
      (items) => {
        this.bound.clear();
        for (const p of items) {
          this.index('LISTED', p);
          release(p);
        }
      },
    );
  }

  /** The workload pods bound to `node` (terminating ones included), as last seen. */
  podsOn(node: string): WorkloadPod[] {
    return [...this.bound.values()].filter((p) => p.node === node);
  }

  private index(type: string, p: V1Pod): void {
    const uid = p.metadata?.uid ?? '';
    const node = p.spec?.nodeName;
    if (type === 'DELETED' || !node) this.bound.delete(uid);
    else
      this.bound.set(uid, {
        name: p.metadata?.name ?? '',
        node,
        terminating: p.metadata?.deletionTimestamp !== undefined,
      });
  }

  private later(f: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      f();
    }, ms);
    this.timers.add(t);
  }

  stop(): void {
    this.follower.stop();
    for (const t of this.timers) clearTimeout(t);
  }
}
