/**
 * The invariants, checked as the cluster changes (from one watch of all Nodes, one of the lock's
 * DaemonSet, and the testbed's reboot events), not only at the end:
 *
 * - never more than c nodes disrupted (cordoned by an agent, or not Ready), never more zones than allowed;
 * - a reboot only by a node holding the lock, and only for a need that is still open (never twice for one);
 * - an operator's cordon never undone; a malformed lock annotation never overwritten.
 *
 * What the faults themselves do is not counted against the agents: a Node deleted and recreated is
 * NotReady until kwok reports it again; an operator's cordon is the operator's.
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1DaemonSet,
  type V1Node,
} from '@kubernetes/client-node';
import { CYCLE_ANNOTATION } from '../../src/core/cycle.ts';
import { liveEntries, parseLock } from '../../src/core/lock/codec.ts';
import { type Follower, followObjects } from './watch.ts';

export interface Violation {
  at: number;
  invariant: string;
  evidence: string;
}

interface NodeView {
  cordoned: boolean;
  ready: boolean;
  zone: string;
  cycle: string | undefined;
}

export interface CheckerOptions {
  lock: { namespace: string; name: string; annotation: string };
  zoneLabel: string;
  /** What the checker expects: at most this many disrupted nodes, and zones (0: no zone rule). */
  concurrency: number;
  maxZones: number;
  t0: number;
  log: (line: string) => void;
}

/** How long a lock entry seen released still counts as held (the watch shows writes a moment late). */
const HOLD_GRACE_MS = 3000;

export class InvariantChecker {
  readonly violations: Violation[] = [];
  readonly nodes = new Map<string, NodeView>();
  private readonly opts: CheckerOptions;
  private readonly kc: KubeConfig;
  private followers: Follower[] = [];
  /** Lock holders as last seen well-formed; when each was last seen holding. */
  holders = new Set<string>();
  private readonly lastHeld = new Map<string, number>();
  lockRaw: string | undefined;
  lockExists = true;
  /**
   * Nodes an operator cordoned (the harness): 'sent' until the watch shows the cordon, 'seen' from
   * then on (it must stay), 'releasing' once the operator uncordons it, until the watch shows that.
   */
  readonly operatorCordoned = new Map<string, 'sent' | 'seen' | 'releasing'>();
  /**
   * Nodes a fault deletes and recreates: exempt from "not Ready" until kwok reports the new object
   * Ready ('deleted': the watch showed the old one go).
   */
  readonly recreated = new Map<string, 'pending' | 'deleted'>();
  /** A malformed value the harness wrote, and the value it will restore (only it may replace it). */
  malformed: string | undefined;
  restoring: { value: string | undefined } | undefined;
  maxDisrupted = 0;
  maxZonesSeen = 0;
  /** Open needs: node -> since (the harness writes the sentinel and opens it). */
  readonly needs = new Map<string, number>();
  readonly waits: number[] = [];
  reboots = 0;
  private readonly lastViolation = new Map<string, number>();
  /** What happened just before a violation (the faults), appended to its evidence. */
  context: () => string = () => '';

  constructor(kc: KubeConfig, opts: CheckerOptions) {
    this.kc = kc;
    this.opts = opts;
  }

  async start(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const apps = this.kc.makeApiClient(AppsV1Api);
    const { namespace, name } = this.opts.lock;
    const nodes = followObjects<V1Node>(
      this.kc,
      '/api/v1/nodes',
      async () => {
        const l = await core.listNode();
        return { items: l.items, rv: l.metadata?.resourceVersion ?? '' };
      },
      (type, n) => this.onNode(type, n),
      (items) => {
        this.nodes.clear();
        for (const n of items) this.onNode('LISTED', n);
      },
    );
    const lock = followObjects<V1DaemonSet>(
      this.kc,
      `/apis/apps/v1/namespaces/${namespace}/daemonsets`,
      async () => {
        const l = await apps.listNamespacedDaemonSet({ namespace, fieldSelector: `metadata.name=${name}` });
        return { items: l.items, rv: l.metadata?.resourceVersion ?? '' };
      },
      (type, d) => this.onLock(type === 'DELETED' ? undefined : d),
      (items) => this.onLock(items[0]),
      `metadata.name=${name}`,
    );
    this.followers = [nodes, lock];
    await Promise.all(this.followers.map((f) => f.ready));
  }

  stop(): void {
    for (const f of this.followers) f.stop();
  }

  /** The harness writes a node's sentinel: a need opens. */
  openNeed(node: string): void {
    if (!this.needs.has(node)) this.needs.set(node, Date.now());
  }

  /** The testbed's reboot:start event: the node's reboot began. */
  onReboot(node: string): void {
    this.reboots++;
    const now = Date.now();
    const held = this.holders.has(node) || now - (this.lastHeld.get(node) ?? 0) <= HOLD_GRACE_MS;
    if (!held)
      this.violate(
        'reboot only while holding the lock',
        `${node} rebooted; lock holders ${[...this.holders].join(',') || 'none'} (lock ${this.lockExists ? JSON.stringify(this.lockRaw) : 'DaemonSet absent'})`,
      );
    const since = this.needs.get(node);
    if (since === undefined)
      this.violate(
        'each need served by exactly one reboot',
        `${node} rebooted with no open need (a second reboot)`,
      );
    else {
      this.waits.push(now - since);
      this.needs.delete(node);
    }
  }

  /**
   * The operator uncordons a node they cordoned: the cordon stays theirs (not an agent's disruption)
   * until the watch shows the uncordon, which a control-plane fault may delay by a minute (chaos
   * seed 2112 counted such a cordon against the agents before this).
   */
  releaseOperatorCordon(node: string): void {
    if (this.operatorCordoned.has(node)) this.operatorCordoned.set(node, 'releasing');
  }

  disrupted(): string[] {
    return [...this.nodes]
      .filter(
        ([n, s]) => (s.cordoned && !this.operatorCordoned.has(n)) || (!s.ready && !this.recreated.has(n)),
      )
      .map(([n]) => n);
  }

  longestOpenWait(now = Date.now()): number {
    return Math.max(0, ...[...this.needs.values()].map((t) => now - t));
  }

  private onNode(type: string, n: V1Node): void {
    const name = n.metadata?.name ?? '';
    if (type === 'DELETED') {
      this.nodes.delete(name);
      if (this.recreated.has(name)) this.recreated.set(name, 'deleted');
      return;
    }
    const view: NodeView = {
      cordoned: n.spec?.unschedulable === true,
      ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      zone: n.metadata?.labels?.[this.opts.zoneLabel] ?? '(no zone)',
      cycle: n.metadata?.annotations?.[CYCLE_ANNOTATION],
    };
    if (view.ready && this.recreated.get(name) === 'deleted') this.recreated.delete(name);
    const operator = this.operatorCordoned.get(name);
    if (operator === 'releasing' && !view.cordoned) this.operatorCordoned.delete(name);
    else if (operator === 'sent' && view.cordoned) this.operatorCordoned.set(name, 'seen');
    else if (operator === 'seen' && !view.cordoned && !this.recreated.has(name)) {
      // Once per cordon, not again at each later event of the Node.
      this.operatorCordoned.delete(name);
      this.violate('an operator cordon is never undone', `${name} uncordoned while cordoned by the operator`);
    }
    this.nodes.set(name, view);
    this.measure();
  }

  private onLock(d: V1DaemonSet | undefined): void {
    const now = Date.now();
    this.lockExists = d !== undefined;
    const raw = d?.metadata?.annotations?.[this.opts.lock.annotation];
    if (this.malformed !== undefined && d !== undefined && raw !== this.malformed) {
      if (this.restoring && raw === this.restoring.value) {
        this.malformed = undefined;
        this.restoring = undefined;
      } else
        this.violate(
          'a malformed lock is never overwritten',
          `lock ${JSON.stringify(this.malformed)} replaced by ${JSON.stringify(raw)}`,
        );
    }
    this.lockRaw = raw;
    const value = parseLock(raw);
    // A malformed lock hides who holds it: the holders are still those last seen.
    if (value.form === 'malformed') return;
    for (const h of this.holders) this.lastHeld.set(h, now);
    this.holders = new Set(liveEntries(value, new Date()).map((e) => e.nodeID));
    for (const h of this.holders) this.lastHeld.set(h, now);
  }

  private measure(): void {
    const disrupted = this.disrupted();
    const zones = new Set(disrupted.map((n) => this.nodes.get(n)?.zone));
    this.maxDisrupted = Math.max(this.maxDisrupted, disrupted.length);
    this.maxZonesSeen = Math.max(this.maxZonesSeen, zones.size);
    const describe = () =>
      disrupted
        .map((n) => {
          const s = this.nodes.get(n)!;
          return `${n}(${s.zone}${s.cordoned ? ',cordoned' : ''}${s.ready ? '' : ',NotReady'}${s.cycle ? `,${phaseOf(s.cycle)}` : ''})`;
        })
        .join(' ');
    if (disrupted.length > this.opts.concurrency)
      this.violate(
        `at most ${this.opts.concurrency} node(s) disrupted`,
        `${disrupted.length} disrupted: ${describe()}; lock holders ${[...this.holders].join(',') || 'none'}`,
      );
    if (this.opts.maxZones > 0 && zones.size > this.opts.maxZones)
      this.violate(`at most ${this.opts.maxZones} zone(s) disrupted`, `${zones.size} zones: ${describe()}`);
  }

  /** One violation per invariant and evidence pattern per 10 s: a lasting breach is one finding, not hundreds. */
  private violate(invariant: string, evidence: string): void {
    const now = Date.now();
    const key = invariant;
    if (now - (this.lastViolation.get(key) ?? 0) < 10_000) return;
    this.lastViolation.set(key, now);
    const context = this.context();
    if (context) evidence = `${evidence}; before it: ${context}`;
    this.violations.push({ at: now, invariant, evidence });
    this.opts.log(`  VIOLATION +${((now - this.opts.t0) / 1000).toFixed(1)}s ${invariant}: ${evidence}`);
  }
}

/** The phase a cycle annotation names ('?' when unreadable). */
export function phaseOf(cycle: string | undefined): string | undefined {
  if (cycle === undefined) return undefined;
  try {
    return String((JSON.parse(cycle) as { phase?: unknown }).phase ?? '?');
  } catch {
    return '?';
  }
}
