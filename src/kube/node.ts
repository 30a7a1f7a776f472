import type * as k8s from '@kubernetes/client-node';
import { type NodeChange, NodeGone, type NodePort, type NodeView } from '../core/ports.ts';
import { type Kube, paths } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import { CATCH_UP_MS, tracked, type WatchedObject } from './watch.ts';

export function viewNode(node: k8s.V1Node): NodeView {
  const condition = node.status?.conditions?.find((c) => c.type === 'Ready');
  const ready = condition?.status === 'True';
  const since = condition?.lastTransitionTime as Date | string | undefined;
  return {
    ...(since ? { readySince: since instanceof Date ? since.toISOString() : String(since) } : {}),
    name: node.metadata?.name ?? '',
    uid: node.metadata?.uid ?? '',
    resourceVersion: node.metadata?.resourceVersion ?? '',
    unschedulable: node.spec?.unschedulable === true,
    ready,
    bootID: node.status?.nodeInfo?.bootID ?? '',
    annotations: node.metadata?.annotations ?? {},
    labels: node.metadata?.labels ?? {},
    taints: (node.spec?.taints ?? []).map((t) => ({
      key: t.key,
      effect: t.effect,
      ...(t.value ? { value: t.value } : {}),
    })),
  };
}

/** Operations on the agent's own Node, each a minimal merge patch (never a whole-object write). */
export class NodeOps implements NodePort {
  readonly name: string;
  private readonly kube: Kube;
  private readonly cache: WatchedObject<k8s.V1Node> | undefined;

  /** With a cache (fed by the Node watch) reads cost no request while the watch runs. */
  constructor(kube: Kube, name: string, cache?: WatchedObject<k8s.V1Node>) {
    this.kube = kube;
    this.name = name;
    this.cache = cache;
  }

  async read(): Promise<NodeView> {
    const cached = (await this.cache?.settled(CATCH_UP_MS))?.obj;
    if (cached) return viewNode(cached);
    return this.get();
  }

  private async get(): Promise<NodeView> {
    const node = await this.kube.get<k8s.V1Node>(paths.node(this.name)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      throw new NodeGone(
        `node ${this.name} does not exist; KURED_NODE_ID (or --node-id) must be this node's name`,
      );
    });
    return viewNode(node);
  }

  setUnschedulable(unschedulable: boolean): Promise<unknown> {
    return this.patch({ spec: { unschedulable: unschedulable || null } });
  }

  /** null removes an annotation. */
  setAnnotations(annotations: Record<string, string | null>, also: NodeChange = {}): Promise<unknown> {
    const { labels, unschedulable } = also;
    return this.patch({
      metadata: { annotations, ...(labels ? { labels } : {}) },
      ...(unschedulable !== undefined ? { spec: { unschedulable: unschedulable || null } } : {}),
    });
  }

  setLabels(labels: Record<string, string | null>): Promise<unknown> {
    return this.patch({ metadata: { labels } });
  }

  /** Adds or removes a PreferNoSchedule taint; the taint list is replaced under a resourceVersion check. */
  async setPreferNoScheduleTaint(key: string, present: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const node = attempt === 0 ? await this.read() : await this.get();
      const has = node.taints.some((t) => t.key === key && t.effect === 'PreferNoSchedule');
      if (has === present) return;
      const taints = present
        ? [...node.taints, { key, effect: 'PreferNoSchedule' }]
        : node.taints.filter((t) => !(t.key === key && t.effect === 'PreferNoSchedule'));
      try {
        await this.patch({ metadata: { resourceVersion: node.resourceVersion }, spec: { taints } });
        return;
      } catch (err) {
        if (!isConflict(err) || attempt > 10) throw err;
      }
    }
  }

  private patch(body: object): Promise<unknown> {
    return tracked(this.cache, () => this.kube.mergePatch<k8s.V1Node>(paths.node(this.name), body));
  }
}
