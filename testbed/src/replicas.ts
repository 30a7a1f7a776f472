import { CoreV1Api, type V1Pod, Watch } from '@kubernetes/client-node';
import type { Cluster } from './cluster.ts';

/**
 * A stand-in for a ReplicaSet and the scheduler (the testbed runs neither): keeps `replicas` pods
 * with the given label in the namespace, placing each new one on a Ready, schedulable node,
 * so evicted pods come back elsewhere and a PodDisruptionBudget recovers as in a real cluster.
 */
export class Replicas {
  private readonly cluster: Cluster;
  private readonly core: CoreV1Api;
  private readonly namespace: string;
  private readonly app: string;
  private readonly replicas: number;
  private abort: AbortController | undefined;
  private serial = 0;
  private busy = Promise.resolve();

  constructor(cluster: Cluster, namespace: string, app: string, replicas: number) {
    this.cluster = cluster;
    this.core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    this.namespace = namespace;
    this.app = app;
    this.replicas = replicas;
  }

  async start(): Promise<void> {
    await this.reconcile();
    this.abort = await new Watch(this.cluster.kubeConfig()).watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      { labelSelector: `app=${this.app}` },
      (type) => {
        if (type === 'DELETED' || type === 'MODIFIED')
          this.busy = this.busy.then(() => this.reconcile()).catch(() => {});
      },
      () => {},
    );
  }

  stop(): void {
    this.abort?.abort();
  }

  /** Pods per node, for display. */
  async placement(): Promise<Map<string, number>> {
    const pods = await this.pods();
    const counts = new Map<string, number>();
    for (const p of pods) counts.set(p.spec?.nodeName ?? '', (counts.get(p.spec?.nodeName ?? '') ?? 0) + 1);
    return counts;
  }

  private async pods(): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `app=${this.app}`,
    });
    return list.items.filter((p) => !p.metadata?.deletionTimestamp);
  }

  private async reconcile(): Promise<void> {
    const live = await this.pods();
    const nodes = (await this.core.listNode()).items.filter(
      (n) =>
        !n.spec?.unschedulable &&
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    for (let i = live.length; i < this.replicas && nodes.length > 0; i++) {
      // Spread: the schedulable node with the fewest of our pods.
      const load = (name: string) => live.filter((p) => p.spec?.nodeName === name).length;
      const target = nodes.map((n) => n.metadata?.name ?? '').sort((a, b) => load(a) - load(b))[0]!;
      const pod = await this.core.createNamespacedPod({
        namespace: this.namespace,
        body: {
          metadata: {
            name: `${this.app}-${++this.serial}-${Date.now().toString(36)}`,
            labels: { app: this.app },
          },
          spec: {
            nodeName: target,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: this.app, image: `${this.app}:1` }],
          },
        },
      });
      live.push(pod);
    }
  }
}
