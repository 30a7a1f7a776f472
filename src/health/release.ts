/**
 * An operator's way past a halted rollout: release the halted node's lock entry. Its agent, which
 * watches the lock, then forgets the cycle and the next node may go. (`kured-ts resume` calls this;
 * removing the whole lock annotation, as with kured, works too.)
 */
import { CYCLE_ANNOTATION, parseCycle } from '../core/cycle.ts';
import { liveEntries } from '../core/lock/codec.ts';
import type { LockPort, NodePort } from '../core/ports.ts';

export type ReleaseHaltedOutcome = { released: true; reason: string } | { released: false; why: string };

export async function releaseHalted(
  node: Pick<NodePort, 'name' | 'read'>,
  lock: LockPort,
  now: Date,
): Promise<ReleaseHaltedOutcome> {
  const cycle = parseCycle((await node.read()).annotations[CYCLE_ANNOTATION], now);
  if (cycle?.phase !== 'settling' || !cycle.halted)
    return { released: false, why: `${node.name} is not halted (its cycle: ${cycle?.phase ?? 'none'})` };
  const { value } = await lock.read();
  if (!liveEntries(value, now).some((e) => e.nodeID === node.name))
    return { released: false, why: `${node.name} does not hold the lock any more` };
  await lock.release(node.name);
  return { released: true, reason: cycle.halted };
}
