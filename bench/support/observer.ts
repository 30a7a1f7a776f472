/**
 * What the cluster looked like during a rollout, from one watch of all Nodes and one of the lock's
 * DaemonSet (not a poll per node): when each node was cordoned and uncordoned, how many nodes and
 * zones were disrupted at once, and when each lock holder released.
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1DaemonSet,
  type V1Node,
  Watch,
} from '@kubernetes/client-node';
import { liveEntries, parseLock } from '../../src/core/lock/codec.ts';
import { WAITING_LABEL } from '../../src/core/lock/queue.ts';

export interface Stamp {
  node: string;
  at: number;
}

interface NodeState {
  cordoned: boolean;
  ready: boolean;
  zone: string;
  /** The node's waiting label (when it got in line, epoch ms), if it carries one. */
  waitingSince: number | undefined;
}

export class FleetObserver {
  private readonly kc: KubeConfig;
  private readonly ds: { namespace: string; name: string; annotation: string };
  private readonly zoneLabel: string;
  private readonly nodes = new Map<string, NodeState>();
  private holders = new Set<string>();
  private stopped = false;
  private readonly aborts: AbortController[] = [];
  cordons: Stamp[] = [];
  uncordons: Stamp[] = [];
  releases: Stamp[] = [];
  acquires: Stamp[] = [];
  /** When each node got in line (its waiting label's value), first seen in this window. */
  lineSince = new Map<string, number>();
  maxDisrupted = 0;
  maxZones = 0;
  worstDisrupted: string[] = [];
  worstZones: string[] = [];

  constructor(kc: KubeConfig, ds: FleetObserver['ds'], zoneLabel: string) {
    this.kc = kc;
    this.ds = ds;
    this.zoneLabel = zoneLabel;
  }

  async start(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const apps = this.kc.makeApiClient(AppsV1Api);
    await this.follow<V1Node>(
      '/api/v1/nodes',
      async () => {
        const l = await core.listNode();
        return { items: l.items, rv: l.metadata?.resourceVersion ?? '' };
      },
      (n) => this.onNode(n),
    );
    await this.follow<V1DaemonSet>(
      `/apis/apps/v1/namespaces/${this.ds.namespace}/daemonsets`,
      async () => {
        const l = await apps.listNamespacedDaemonSet({
          namespace: this.ds.namespace,
          fieldSelector: `metadata.name=${this.ds.name}`,
        });
        return { items: l.items, rv: l.metadata?.resourceVersion ?? '' };
      },
      (d) => this.onLock(d),
      `metadata.name=${this.ds.name}`,
    );
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }

  /** Starts a new measurement window: the counters and stamps start empty, the node states stay. */
  reset(): void {
    this.cordons = [];
    this.uncordons = [];
    this.releases = [];
    this.acquires = [];
    this.lineSince = new Map();
    this.maxDisrupted = 0;
    this.maxZones = 0;
    this.worstDisrupted = [];
    this.worstZones = [];
    this.measure();
  }

  cordoned(node: string): boolean {
    return this.nodes.get(node)?.cordoned === true;
  }

  ready(node: string): boolean {
    return this.nodes.get(node)?.ready === true;
  }

  zone(node: string): string {
    return this.nodes.get(node)?.zone ?? '(no zone)';
  }

  /** Nodes carrying the waiting label now. */
  waitingNodes(): string[] {
    return [...this.nodes].filter(([, s]) => s.waitingSince !== undefined).map(([n]) => n);
  }

  lockHolders(): string[] {
    return [...this.holders];
  }

  /** List, then watch from the list's version; a watch that ends resumes, one that fails re-lists. */
  private async follow<T extends { metadata?: { resourceVersion?: string } }>(
    path: string,
    list: () => Promise<{ items: T[]; rv: string }>,
    onObject: (o: T) => void,
    fieldSelector?: string,
  ): Promise<void> {
    let rv = '';
    const relist = async () => {
      const l = await list();
      for (const o of l.items) onObject(o);
      rv = l.rv;
    };
    const watch = async (): Promise<void> => {
      if (this.stopped) return;
      let failed = false;
      const abort = await new Watch(this.kc).watch(
        path,
        { resourceVersion: rv, allowWatchBookmarks: true, fieldSelector },
        (type, o: T & { code?: number }) => {
          if (type === 'ERROR') {
            failed = true; // 410 Gone: our version is too old
            return;
          }
          rv = o.metadata?.resourceVersion ?? rv;
          if (type !== 'BOOKMARK' && type !== 'DELETED') onObject(o);
        },
        (err) => {
          if (this.stopped) return;
          // Resumed until it works: a relist of 5,000 Nodes may fail while the API server is busy,
          // and an observer that stopped watching sees no cycle end.
          let relisting = (err !== undefined && err !== null) || failed;
          const again = async (attempt: number): Promise<void> => {
            try {
              if (relisting) await relist();
              await watch();
            } catch (e) {
              if (attempt === 0)
                console.log(`  observer: ${path} not watched again yet (${String(e)}); retrying`);
              relisting = true;
              setTimeout(() => void again(attempt + 1), Math.min(10_000, 500 * 2 ** attempt));
            }
          };
          setTimeout(() => void again(0), 0);
        },
      );
      this.aborts.push(abort);
    };
    await relist();
    await watch();
  }

  private onNode(n: V1Node): void {
    const name = n.metadata?.name ?? '';
    const now = Date.now();
    const s: NodeState = {
      cordoned: n.spec?.unschedulable === true,
      ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      zone: n.metadata?.labels?.[this.zoneLabel] ?? '(no zone)',
      waitingSince: n.metadata?.labels?.[WAITING_LABEL]
        ? Number(n.metadata.labels[WAITING_LABEL])
        : undefined,
    };
    if (s.waitingSince !== undefined && !this.lineSince.has(name)) this.lineSince.set(name, s.waitingSince);
    const old = this.nodes.get(name);
    if (old && !old.cordoned && s.cordoned) this.cordons.push({ node: name, at: now });
    if (old?.cordoned && !s.cordoned) this.uncordons.push({ node: name, at: now });
    this.nodes.set(name, s);
    this.measure();
  }

  private onLock(d: V1DaemonSet): void {
    const now = new Date();
    const raw = d.metadata?.annotations?.[this.ds.annotation];
    const live = new Set(liveEntries(parseLock(raw), now).map((e) => e.nodeID));
    for (const h of this.holders) if (!live.has(h)) this.releases.push({ node: h, at: now.getTime() });
    for (const h of live) if (!this.holders.has(h)) this.acquires.push({ node: h, at: now.getTime() });
    this.holders = live;
  }

  /** A node is disrupted while it is cordoned or not Ready. */
  private measure(): void {
    const disrupted = [...this.nodes].filter(([, s]) => s.cordoned || !s.ready);
    const zones = new Set(disrupted.map(([, s]) => s.zone));
    if (disrupted.length > this.maxDisrupted) {
      this.maxDisrupted = disrupted.length;
      this.worstDisrupted = disrupted.map(([n]) => n);
    }
    if (zones.size > this.maxZones) {
      this.maxZones = zones.size;
      this.worstZones = disrupted.map(([n, s]) => `${n}(${s.zone})`);
    }
  }
}
