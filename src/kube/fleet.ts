import type * as k8s from '@kubernetes/client-node';
import { CYCLE_ANNOTATION, IN_CYCLE_LABEL, parseCycle } from '../core/cycle.ts';
import type { Forgotten } from '../core/lock/codec.ts';
import { TURN_ANNOTATION, WAITING_LABEL, type Waiter } from '../core/lock/queue.ts';
import type { FleetPort } from '../core/ports.ts';
import { type Kube, paths } from './client.ts';
import { isNotFound } from './errors.ts';

/** The other nodes, as the hand-over needs them: who waits for the lock, whether a holder exists. */
export class NodeFleet implements FleetPort {
  private readonly kube: Kube;
  private readonly zoneLabel: string;
  /** false: no `list` on nodes, so no waiting line; the first to find a free slot takes it (kured's way). */
  readonly hasLine: boolean;

  constructor(kube: Kube, zoneLabel: string, opts: { canList?: boolean } = {}) {
    this.kube = kube;
    this.zoneLabel = zoneLabel;
    this.hasLine = opts.canList !== false;
  }

  async waiting(): Promise<Waiter[]> {
    if (!this.hasLine) return [];
    // Only the waiting nodes, by their label, and only their metadata: not the fleet.
    const list = await this.kube.listMetadata(paths.nodes, { labelSelector: WAITING_LABEL });
    return (list.items ?? []).map((n) => {
      const labels = n.metadata?.labels ?? {};
      const since = Number(labels[WAITING_LABEL]);
      return {
        name: n.metadata?.name ?? '',
        since: Number.isFinite(since) ? since : 0,
        zone: labels[this.zoneLabel] ?? '',
        ...(n.metadata?.annotations?.[TURN_ANNOTATION] !== undefined ? { woken: true } : {}),
      };
    });
  }

  async forgotten(lockUid: string): Promise<Forgotten[]> {
    if (!this.hasLine) return [];
    // Filtered by the API server: only nodes in a cycle of another lock object, nearly always none.
    const labelSelector = `${IN_CYCLE_LABEL},${IN_CYCLE_LABEL}!=${lockUid}`;
    const list = await this.kube.listMetadata(paths.nodes, { labelSelector });
    return (list.items ?? []).map((n) => {
      const cycle = parseCycle(n.metadata?.annotations?.[CYCLE_ANNOTATION], new Date());
      return {
        nodeID: n.metadata?.name ?? '',
        // Its entry's metadata: was it unschedulable before us (then it is not ours to uncordon)?
        unschedulable: cycle ? !cycle.cordonedByUs : false,
        zone: n.metadata?.labels?.[this.zoneLabel] ?? '',
      };
    });
  }

  async exists(node: string): Promise<boolean> {
    try {
      await this.kube.get<k8s.V1Node>(paths.node(node));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async dropWaiting(node: string): Promise<void> {
    await this.patchOther(node, {
      metadata: { labels: { [WAITING_LABEL]: null }, annotations: { [TURN_ANNOTATION]: null } },
    });
  }

  /** In parallel: the nodes of a wave are woken together. */
  async markTurn(nodes: string[]): Promise<void> {
    const at = String(Date.now());
    await Promise.all(
      nodes.map((n) => this.patchOther(n, { metadata: { annotations: { [TURN_ANNOTATION]: at } } })),
    );
  }

  /** A merge patch of another node; one that is gone needs nothing. */
  private async patchOther(node: string, body: object): Promise<void> {
    try {
      await this.kube.mergePatch(paths.node(node), body);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
