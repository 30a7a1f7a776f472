import { CYCLE_ANNOTATION, parseCycle } from '../core/cycle.ts';
import { acquire, describeHolders, type LockValue, liveEntries } from '../core/lock/codec.ts';
import { describePause, isPaused } from '../core/lock/pause.ts';
import type { Queue } from '../core/lock/queue.ts';
import type { LockPort, NodePort, NodeView, Sentinel } from '../core/ports.ts';
import type { Observation } from './decide.ts';
import type { AgentSettings } from './settings.ts';

export interface Snapshot {
  observation: Observation;
  node: NodeView;
  lock: LockValue;
  queue: Queue;
  /** The lock object's resourceVersion as read: a write based on this snapshot is conditional on it. */
  lockVersion: string;
  /** Our zone ('' without the zone label). */
  zone: string;
}

/**
 * One look at everything the decision needs (the gates are evaluated only when asked). While the
 * watches run, the Node and the lock come from their caches: no request.
 */
export async function observe(
  deps: { node: NodePort; lock: LockPort; sentinel: Sentinel; now: () => Date },
  s: AgentSettings,
): Promise<Snapshot> {
  const [node, { value: lock, queue, pause, resourceVersion }, rebootRequired] = await Promise.all([
    deps.node.read(),
    deps.lock.read(),
    deps.sentinel.rebootRequired(),
  ]);
  const now = deps.now();
  const mine = liveEntries(lock, now).find((e) => e.nodeID === s.nodeId);
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
  return {
    node,
    lock,
    queue,
    lockVersion: resourceVersion,
    zone,
    observation: {
      now,
      rebootRequired,
      node: {
        name: s.nodeId,
        unschedulable: node.unschedulable,
        ready: node.ready,
        bootID: node.bootID,
        cycle: parseCycle(node.annotations[CYCLE_ANNOTATION], now),
      },
      lock: {
        mine,
        acquirable,
        holders: paused ? `kured-ts pause (${describePause(pause)})` : describeHolders(lock, now),
        stopped: paused || lock.form === 'manual' || lock.form === 'malformed',
        named: queue.next,
        namedMe: queue.next.includes(s.nodeId),
        unchangedMs: 0,
      },
      gate: undefined,
      health: undefined,
    },
  };
}
