/**
 * The waiting line, kept in order by the API server: each node in line has a Lease in the lock's
 * namespace whose name holds the time it got in line (`kured-ts-line.<lock>.<epoch ms>.<node>`).
 * A LIST returns objects in the order of their names, so the first page of a LIST with a `limit`
 * is the head of the line: naming the next nodes reads a few dozen small objects however long the
 * line (a thousand nodes on patch day), where listing the waiting Nodes read all of them each time.
 * Getting in line is a create and leaving a delete: no object is written by two nodes, so a
 * thousand nodes getting in line together never conflict.
 *
 * The node's own label (WAITING_LABEL) stays what the agent itself goes by; a Lease is created
 * before it and deleted after it, so a crash between the two leaves an entry without a label (named
 * once, passed over, removed: src/agent/handover.ts) and never a label without an entry.
 */
import { createHash } from 'node:crypto';
import type { Waiter } from '../core/lock/queue.ts';
import type { Kube, KubeList } from './client.ts';
import { isConflict } from './errors.ts';

/** On each entry: the lock DaemonSet it waits for (several fleets may share a namespace). */
export const LINE_LABEL = 'kured-ts.dev/line';
/** On each entry: the node it stands for (its name, or a hash of a name too long for a label). */
export const LINE_NODE_LABEL = 'kured-ts.dev/line-node';
/** On each entry: when its node got in line (epoch ms), as in its name. */
export const LINE_SINCE_LABEL = 'kured-ts.dev/line-since';
/** On each entry: its node's zone (absent: no zone label). */
export const LINE_ZONE_LABEL = 'kured-ts.dev/line-zone';
const PREFIX = 'kured-ts-line';

interface LeaseEntry {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { holderIdentity?: string };
}

/** A label value standing for a name: itself when it fits (63 characters), else a hash of it. */
export function labelKey(name: string): string {
  return name.length <= 63 ? name : `h${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}

/** The entry's name: the time before the node, zero-padded, so that a lock's entries sort as its line. */
export function entryName(lock: string, node: string, since: number): string {
  const at = `${PREFIX}.${labelKey(lock)}.${String(since).padStart(13, '0')}`;
  return `${at}.${node}`.length <= 253 ? `${at}.${node}` : `${at}.${labelKey(node)}`;
}

export class LeaseLine {
  private readonly kube: Kube;
  private readonly path: string;
  private readonly lock: string;
  private readonly pageSize: number;

  /** The line of the lock DaemonSet `lock` in `namespace`, read `pageSize` entries at a time. */
  constructor(kube: Kube, lock: { namespace: string; name: string }, pageSize: number) {
    this.kube = kube;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(lock.namespace)}/leases`;
    this.lock = lock.name;
    this.pageSize = pageSize;
  }

  /** The label selector of this line's entries, or of one node's. */
  private selector(node?: string, extra = ''): string {
    const line = `${LINE_LABEL}=${labelKey(this.lock)}`;
    return `${line}${node === undefined ? '' : `,${LINE_NODE_LABEL}=${labelKey(node)}`}${extra}`;
  }

  /** Gets in line (again: an entry of the same node and time already there is fine). */
  async join(node: string, since: number, zone: string): Promise<void> {
    const labels: Record<string, string> = {
      [LINE_LABEL]: labelKey(this.lock),
      [LINE_NODE_LABEL]: labelKey(node),
      [LINE_SINCE_LABEL]: String(since),
      ...(zone ? { [LINE_ZONE_LABEL]: zone } : {}),
    };
    try {
      await this.kube.create(this.path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: entryName(this.lock, node, since), labels },
        spec: { holderIdentity: node },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  /** Every entry of the node: one delete, whatever a crash left behind. */
  async leave(node: string): Promise<void> {
    await this.kube.deleteCollection(this.path, { labelSelector: this.selector(node) });
  }

  /** The times of the node's entries (to take out exactly those: see dropWaiting). */
  async entriesOf(node: string): Promise<number[]> {
    const list = await this.kube.list<LeaseEntry>(this.path, { labelSelector: this.selector(node) });
    return list.items.map((e) => Number(e.metadata?.labels?.[LINE_SINCE_LABEL])).filter(Number.isFinite);
  }

  /** Takes out the node's entries of these times, and none it may have made since. */
  async remove(node: string, sinces: number[]): Promise<void> {
    if (sinces.length === 0) return;
    await this.kube.deleteCollection(this.path, {
      labelSelector: this.selector(node, `,${LINE_SINCE_LABEL} in (${sinces.join(',')})`),
    });
  }

  /**
   * The line from its head, a page at a time until `enough` says the part read decides who is
   * named (or the line ends). A node with two entries (a crash between getting in line and its
   * label) stands at the first.
   */
  async waiting(enough: (line: Waiter[]) => boolean = () => false): Promise<Waiter[]> {
    const line: Waiter[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    do {
      const page: KubeList<LeaseEntry> = await this.kube.list<LeaseEntry>(this.path, {
        labelSelector: this.selector(),
        limit: String(this.pageSize),
        ...(token ? { continue: token } : {}),
      });
      for (const e of page.items) {
        const name = e.spec?.holderIdentity;
        const since = Number(e.metadata?.labels?.[LINE_SINCE_LABEL]);
        if (!name || seen.has(name) || !Number.isFinite(since)) continue;
        seen.add(name);
        line.push({ name, since, zone: e.metadata?.labels?.[LINE_ZONE_LABEL] ?? '' });
      }
      token = page.metadata?.continue || undefined;
    } while (token && !enough(line));
    return line;
  }
}
