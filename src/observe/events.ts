import type * as k8s from '@kubernetes/client-node';
import { V1MicroTime } from '@kubernetes/client-node';
import { statusMessage } from '../kube/errors.ts';
import type { Logger } from './log.ts';

export type EventType = 'Normal' | 'Warning';

/**
 * Kubernetes Events on the agent's Node (events.k8s.io/v1), so `kubectl describe node` says what
 * the agent did and why. Events about a cluster-scoped Node live in the `default` namespace.
 * Best effort: a failed Event is logged, never fatal.
 */
export class NodeEvents {
  private readonly api: k8s.EventsV1Api;
  private readonly node: { name: string; uid: string };
  private readonly instance: string;
  private readonly logger: Logger;
  private lastKey = '';

  constructor(api: k8s.EventsV1Api, node: { name: string; uid: string }, logger: Logger) {
    this.api = api;
    this.node = node;
    this.instance = `kured-ts-${node.name}`.slice(0, 128);
    this.logger = logger;
  }

  /** Records an Event; the same reason and note twice in a row is recorded once. */
  async record(type: EventType, reason: string, action: string, note: string): Promise<void> {
    const key = `${reason}|${note}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    try {
      await this.api.createNamespacedEvent({
        namespace: 'default',
        body: {
          // generateName may end in '-' (the server appends a suffix) but not in '.'.
          metadata: { generateName: `${this.node.name}.kured-ts-` },
          eventTime: new V1MicroTime(),
          reportingController: 'kured-ts.dev/agent',
          reportingInstance: this.instance,
          action,
          reason,
          type,
          note: note.slice(0, 1000),
          regarding: { apiVersion: 'v1', kind: 'Node', name: this.node.name, uid: this.node.uid },
        },
      });
    } catch (err) {
      this.logger.warn({ reason, err: statusMessage(err) }, 'could not record a Kubernetes Event');
    }
  }
}
