/**
 * Watches every Node during a test and keeps what a test asserts on: how many nodes were
 * disrupted (cordoned or down) at the same time, and each node's cordon history.
 */
import { CoreV1Api, type V1Node, Watch } from '@kubernetes/client-node';
import type { Cluster } from './cluster.ts';

interface NodeState {
  unschedulable: boolean;
  ready: boolean;
  bootID: string;
}

export class ClusterObserver {
  private readonly cluster: Cluster;
  private readonly state = new Map<string, NodeState>();
  private abort: AbortController | undefined;
  /** Nodes that were cordoned before the test: cordoned is their normal state. */
  private readonly preCordoned = new Set<string>();
  maxDisrupted = 0;
  /** Sets of nodes seen disrupted together, for messages. */
  worstMoment: string[] = [];
  readonly bootIDs = new Map<string, Set<string>>();

  constructor(cluster: Cluster) {
    this.cluster = cluster;
  }

  async start(preCordoned: string[] = []): Promise<void> {
    for (const n of preCordoned) this.preCordoned.add(n);
    const kc = this.cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const list = await core.listNode();
    for (const node of list.items) this.update(node);
    this.abort = await new Watch(kc).watch(
      '/api/v1/nodes',
      { resourceVersion: list.metadata?.resourceVersion },
      (_type, node: V1Node) => this.update(node),
      () => {},
    );
  }

  stop(): void {
    this.abort?.abort();
  }

  private update(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    const s: NodeState = {
      unschedulable: node.spec?.unschedulable === true,
      ready: node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      bootID: node.status?.nodeInfo?.bootID ?? '',
    };
    this.state.set(name, s);
    const boots = this.bootIDs.get(name) ?? new Set();
    boots.add(s.bootID);
    this.bootIDs.set(name, boots);
    const disrupted = [...this.state].filter(
      ([n, st]) => !st.ready || (st.unschedulable && !this.preCordoned.has(n)),
    );
    if (disrupted.length > this.maxDisrupted) {
      this.maxDisrupted = disrupted.length;
      this.worstMoment = disrupted.map(([n]) => n);
    }
  }
}
