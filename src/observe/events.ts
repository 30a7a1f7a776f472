import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../core/log.ts';
import { type Kube, paths } from '../kube/client.ts';
import { statusMessage } from '../kube/errors.ts';

export type EventType = 'Normal' | 'Warning';

/** An events.k8s.io/v1 Event as sent: eventTime is a MicroTime string (client-node's type says Date). */
type WireEvent = Omit<k8s.EventsV1Event, 'eventTime'> & { eventTime: string };

/**
 * Kubernetes Events on the agent's Node (events.k8s.io/v1), so `kubectl describe node` says what
 * the agent did and why. Events about a cluster-scoped Node live in the `default` namespace.
 * Best effort: a failed Event is logged, never fatal. Sent in the background (each dated when it was
 * recorded), so that a cycle's steps do not wait for them (each hand-over of a fleet would, otherwise).
 */
export class NodeEvents {
  private readonly kube: Kube;
  private readonly node: { name: string; uid: string };
  private readonly instance: string;
  private readonly logger: Logger;
  private lastKey = '';
  private readonly sending = new Set<Promise<void>>();
  /** The last Event's time (epoch ms): each is dated after the one before, even within one ms. */
  private lastAt = 0;

  /** Off: the RBAC grants no `create` on events (said once at start-up); record() does nothing. */
  private readonly off: boolean;

  constructor(kube: Kube, node: { name: string; uid: string }, logger: Logger, opts: { off?: boolean } = {}) {
    this.off = opts.off === true;
    this.kube = kube;
    this.node = node;
    this.instance = `kured-ts-${node.name}`.slice(0, 128);
    this.logger = logger;
  }

  /** Sends an Event, dated now; the same reason and note twice in a row is recorded once. */
  record(type: EventType, reason: string, action: string, note: string): void {
    if (this.off) return;
    const key = `${reason}|${note}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    // Sent side by side, they are ordered by their time alone (steps recorded in one ms included).
    this.lastAt = Math.max(Date.now(), this.lastAt + 1);
    const eventTime = microTime(new Date(this.lastAt));
    const sent = this.send(type, reason, action, note, eventTime).finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  /** Resolves once every Event recorded so far was sent (or given up on). */
  async flush(): Promise<void> {
    await Promise.all([...this.sending]);
  }

  private async send(type: EventType, reason: string, action: string, note: string, eventTime: string) {
    try {
      const event: WireEvent = {
        // generateName may end in '-' (the server appends a suffix) but not in '.'.
        metadata: { generateName: `${this.node.name}.kured-ts-` },
        eventTime,
        reportingController: 'kured-ts.dev/agent',
        reportingInstance: this.instance,
        action,
        reason,
        type,
        note: note.slice(0, 1000),
        regarding: { apiVersion: 'v1', kind: 'Node', name: this.node.name, uid: this.node.uid },
      };
      await this.kube.create(paths.events('default'), event);
    } catch (err) {
      this.logger.warn({ reason, err: statusMessage(err) }, 'could not record a Kubernetes Event');
    }
  }
}

/** metav1.MicroTime on the wire: RFC 3339 with six fractional digits (the type says Date, the wire a string). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
