import type { EventEmitter } from 'node:events';
import { type KubeConfig, type V1Node, Watch } from '@kubernetes/client-node';
import { bootIdOf, isReady } from './nodes.ts';

/** One observed state of a Node: recorded whenever its Ready status or boot ID changes. */
export interface NodeObservation {
  ready: boolean;
  bootId: string;
  at: Date;
}

/**
 * Watches Nodes and keeps, per node, the sequence of Ready/NotReady states and boot IDs that the API
 * server actually showed (not what the testbed meant to do). Emits `node` with (name, observation).
 */
export class NodeHistory {
  private readonly history = new Map<string, NodeObservation[]>();
  private abort: AbortController | undefined;
  private stopped = false;
  private readonly kc: KubeConfig;
  private readonly events: EventEmitter;

  constructor(kc: KubeConfig, events: EventEmitter) {
    this.kc = kc;
    this.events = events;
  }

  of(node: string): NodeObservation[] {
    return [...(this.history.get(node) ?? [])];
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    const restart = () => {
      // A watch ends on timeouts and API server restarts; resume unless we are shutting down.
      if (!this.stopped) setTimeout(() => void this.start().catch(() => restart()), 200).unref();
    };
    this.abort = await new Watch(this.kc).watch(
      '/api/v1/nodes',
      {},
      (type: string, node: V1Node) => {
        if (type === 'ADDED' || type === 'MODIFIED') this.record(node);
      },
      () => restart(),
    );
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private record(node: V1Node): void {
    const name = node.metadata?.name;
    if (!name) return;
    const list = this.history.get(name) ?? [];
    const last = list.at(-1);
    const obs: NodeObservation = { ready: isReady(node), bootId: bootIdOf(node), at: new Date() };
    // A re-started watch replays every node as ADDED: only changes count.
    if (last && last.ready === obs.ready && last.bootId === obs.bootId) return;
    list.push(obs);
    this.history.set(name, list);
    this.events.emit('node', name, obs);
  }
}
