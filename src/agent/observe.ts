import { acquire, describeHolders, type LockValue, liveEntries } from '../lock/codec.ts';
import { CYCLE_ANNOTATION, parseCycle } from './cycle.ts';
import type { Observation } from './decide.ts';
import type { LockPort, NodePort, NodeView, Sentinel } from './ports.ts';
import type { AgentSettings } from './settings.ts';

export interface Snapshot {
  observation: Observation;
  node: NodeView;
  lock: LockValue;
}

/** One fresh read of everything the decision needs (the gates are evaluated only when asked). */
export async function observe(
  deps: { node: NodePort; lock: LockPort; sentinel: Sentinel; now: () => Date },
  s: AgentSettings,
): Promise<Snapshot> {
  const [node, { value: lock }, rebootRequired] = await Promise.all([
    deps.node.read(),
    deps.lock.read(),
    deps.sentinel.rebootRequired(),
  ]);
  const now = deps.now();
  const mine = liveEntries(lock, now).find((e) => e.nodeID === s.nodeId);
  const acquirable = acquire(lock, {
    nodeID: s.nodeId,
    unschedulable: node.unschedulable,
    concurrency: s.concurrency,
    ttlMs: s.lockTtlMs,
    now,
  }).ok;
  return {
    node,
    lock,
    observation: {
      now,
      rebootRequired,
      node: {
        unschedulable: node.unschedulable,
        ready: node.ready,
        bootID: node.bootID,
        cycle: parseCycle(node.annotations[CYCLE_ANNOTATION], now),
      },
      lock: { mine, acquirable, holders: describeHolders(lock, now) },
      gate: undefined,
      health: undefined,
    },
  };
}
