import type * as k8s from '@kubernetes/client-node';
import { CYCLE_ANNOTATION, IN_CYCLE_LABEL, parseCycle } from '../core/cycle.ts';
import type { Forgotten } from '../core/lock/codec.ts';
import { TURN_ANNOTATION, WAITING_LABEL, type Waiter } from '../core/lock/queue.ts';
import type { FleetPort } from '../core/ports.ts';
import { type Kube, paths } from './client.ts';
import { isNotFound } from './errors.ts';
import type { LeaseLine } from './line.ts';

/**
 * The other nodes, as the hand-over needs them: the waiting line (./line.ts), whether a holder
 * exists, the nodes a recreated lock forgot, a named node's wake-up on its own Node.
 */
export class NodeFleet implements FleetPort {
  private readonly kube: Kube;
  private readonly node: string;
  private readonly zoneLabel: string;
  private readonly line: LeaseLine | undefined;
  /** `list` on nodes: without it the nodes a recreated lock forgot are not looked for. */
  private readonly canListNodes: boolean;

  constructor(
    kube: Kube,
    opts: { node: string; zoneLabel: string; line: LeaseLine | undefined; canListNodes: boolean },
  ) {
    this.kube = kube;
    this.node = opts.node;
    this.zoneLabel = opts.zoneLabel;
    this.line = opts.line;
    this.canListNodes = opts.canListNodes;
  }

  /** false: no line (no grant on its Leases); the first to find a free slot takes it (kured's way). */
  get hasLine(): boolean {
    return this.line !== undefined;
  }

  async waiting(enough?: (line: Waiter[]) => boolean): Promise<Waiter[]> {
    return this.line ? this.line.waiting(enough) : [];
  }

  async join(since: number, zone: string): Promise<void> {
    await this.line?.join(this.node, since, zone);
  }

  async leave(): Promise<void> {
    await this.line?.leave(this.node);
  }

  async forgotten(lockUid: string): Promise<Forgotten[]> {
    if (!this.canListNodes) return [];
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

  /**
   * Takes a node that let its turn pass out of line: its entries as they are now, then its label
   * (it gets in line again at the back if still waiting: a new entry, which is not taken out).
   */
  async dropWaiting(node: string): Promise<void> {
    const sinces = (await this.line?.entriesOf(node)) ?? [];
    await this.patchOther(node, {
      metadata: { labels: { [WAITING_LABEL]: null }, annotations: { [TURN_ANNOTATION]: null } },
    });
    await this.line?.remove(node, sinces);
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
