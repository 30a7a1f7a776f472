/**
 * One look at everything the decision needs, made into one observation that nothing changes
 * afterwards: an answer asked for later in the turn (the gates, the health) makes a new one
 * (`answered`). While the watches run, the Node and the lock come from their caches: no request.
 */
import { CYCLE_ANNOTATION, parseCycle } from '../core/cycle.ts';
import { acquire, describeHolders, type LockValue, liveEntries } from '../core/lock/codec.ts';
import { describePause, isPaused } from '../core/lock/pause.ts';
import { type Queue, WAITING_LABEL } from '../core/lock/queue.ts';
import { type LockPort, NodeGone, type NodePort, type NodeView, type Sentinel } from '../core/ports.ts';
import { parseRequest, REQUEST_ANNOTATION, type RebootRequest } from '../reboot/request.ts';
import type { Observation } from './decide.ts';
import type { AgentSettings } from './settings.ts';

export interface Snapshot {
  readonly observation: Observation;
  readonly node: NodeView;
  readonly lock: LockValue;
  readonly queue: Queue;
  /** The lock object's resourceVersion as read: a write based on this snapshot is conditional on it. */
  readonly lockVersion: string;
  /** Our zone ('' without the zone label). */
  readonly zone: string;
  /** How many nodes run an agent, as the lock DaemonSet says (0: not said). */
  readonly fleetSize: number;
  /** Why our Node could not be read, when it does not exist (observation.node.gone). */
  readonly gone?: NodeGone;
  /** An operator's `kured-ts reboot` request on our Node: a sentinel saying yes. */
  readonly request?: RebootRequest;
}

export interface ObserveDeps {
  node: NodePort;
  lock: LockPort;
  sentinel: Sentinel;
  now: () => Date;
  /** The boot ID of the kernel this agent runs on (src/reboot/kernel.ts), where readable. */
  kernelBootID?: string | undefined;
}

/** The same snapshot with answers added to a new observation (the old one is left as it was). */
export function answered(snap: Snapshot, answers: Partial<Observation>): Snapshot {
  return { ...snap, observation: { ...snap.observation, ...answers } };
}

/**
 * Remembers one thing between looks: since when the lock and its hand-over are as they are (local
 * time: no clock skew involved), which decides when a named node that does not act is passed over.
 */
export class Observer {
  private lockSeen = { key: '', at: 0 };

  private readonly d: ObserveDeps;
  private readonly s: AgentSettings;

  constructor(d: ObserveDeps, s: AgentSettings) {
    this.d = d;
    this.s = s;
  }

  async look(given: Partial<Pick<Observation, 'gate' | 'gateAskedAt' | 'preflight'>>): Promise<Snapshot> {
    const { d, s } = this;
    const [read, { value: lock, queue, pause, resourceVersion, uid, fleetSize }, rebootRequired] =
      await Promise.all([
        d.node.read().catch((err: unknown) => {
          if (err instanceof NodeGone) return err;
          throw err;
        }),
        d.lock.read(),
        d.sentinel.rebootRequired(),
      ]);
    const gone = read instanceof NodeGone ? read : undefined;
    const node = read instanceof NodeGone ? nothingLeft(s.nodeId) : read;
    const now = d.now();
    const request = parseRequest(node.annotations[REQUEST_ANNOTATION]);
    const live = liveEntries(lock, now);
    const mine = live.find((e) => e.nodeID === s.nodeId);
    const paused = isPaused(pause);
    const zone = node.labels[s.zoneLabel] ?? '';
    const acquirable =
      !paused &&
      acquire(lock, {
        nodeID: s.nodeId,
        unschedulable: node.unschedulable,
        concurrency: s.concurrency,
        ttlMs: s.lockTtlMs,
        now,
        ...(s.maxZones > 0 ? { zone: { mine: zone, holders: queue.zones, maxZones: s.maxZones } } : {}),
      }).ok;
    const key = JSON.stringify([lock, queue.next]);
    if (key !== this.lockSeen.key) this.lockSeen = { key, at: now.getTime() };
    // Counted from when we got in line at the earliest: agents whose gates open together (a
    // window, a patch day) would otherwise all find the lock "stalled" and all name the next.
    const inLineSince = Number(node.labels[WAITING_LABEL]) || now.getTime();
    const expiries = live.filter((e) => e.TTL > 0).map((e) => Date.parse(e.created) + e.TTL / 1e6);
    return {
      node,
      lock,
      queue,
      lockVersion: resourceVersion,
      zone,
      fleetSize: fleetSize ?? 0,
      ...(gone ? { gone } : {}),
      ...(request ? { request } : {}),
      observation: {
        now,
        rebootRequired: rebootRequired || request !== undefined,
        node: {
          name: s.nodeId,
          ...(gone ? { gone: true } : {}),
          unschedulable: node.unschedulable,
          ready: node.ready,
          bootID: node.bootID,
          cycle: parseCycle(node.annotations[CYCLE_ANNOTATION], now),
        },
        ...(d.kernelBootID ? { kernelBootID: d.kernelBootID } : {}),
        lock: {
          mine,
          ...(uid ? { uid } : {}),
          acquirable,
          holders: paused ? `kured-ts pause (${describePause(pause)})` : describeHolders(lock, now),
          stopped: paused || lock.form === 'manual' || lock.form === 'malformed',
          unreadable: lock.form === 'malformed',
          named: queue.next,
          namedMe: queue.next.includes(s.nodeId),
          unchangedMs: now.getTime() - Math.max(this.lockSeen.at, inLineSince),
          ...(expiries.length ? { expiresAt: new Date(Math.min(...expiries)) } : {}),
        },
        gate: undefined,
        ...given,
        health: undefined,
        jitter: Math.random(),
      },
    };
  }
}

/** What is left of a deleted Node: nothing of ours on it, nothing to continue. */
function nothingLeft(name: string): NodeView {
  return {
    name,
    uid: '',
    resourceVersion: '',
    unschedulable: false,
    ready: false,
    bootID: '',
    annotations: {},
    labels: {},
    taints: [],
  };
}
