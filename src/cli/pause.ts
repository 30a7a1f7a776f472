/**
 * `kured-ts pause [--reason TEXT]` and `kured-ts resume`: stop new reboots cluster-wide (kured's
 * manual lock, which kured's agents respect too) with a record of who, when and why beside it;
 * resume removes exactly what pause wrote, then releases halted nodes. Every write goes through the
 * agents' own lock store, so an agent taking or releasing the lock meanwhile is safe.
 */
import { realClock } from '../agent/clock.ts';
import type { Config } from '../core/config.ts';
import { CYCLE_ANNOTATION, parseCycle } from '../core/cycle.ts';
import { ConfigError } from '../core/errors.ts';
import { goTime, type parseLock } from '../core/lock/codec.ts';
import {
  describePause,
  PAUSE_ANNOTATION,
  type PauseRecord,
  pausedLock,
  resumedLock,
} from '../core/lock/pause.ts';
import type { NodeView } from '../core/ports.ts';
import { releaseHalted } from '../health/release.ts';
import { viewNode } from '../kube/node.ts';
import { DaemonSetLock, lockSettings } from '../lock/store.ts';
import { readLockDaemonSet } from './cluster.ts';
import {
  agentsConfig,
  type KubeOptions,
  type OperatorClients,
  readAgentsDaemonSet,
  whoAmI,
} from './connect.ts';

export interface PauseOutcome {
  record: PauseRecord;
  lock: string | undefined;
  message: string;
}

export async function pause(c: OperatorClients, o: KubeOptions, reason: string): Promise<PauseOutcome> {
  const agents = agentsConfig(await readAgentsDaemonSet(c, o), o);
  const by = await whoAmI(c);
  const store = await lockStore(c, agents);
  return store.update(undefined, ({ annotation, value, pause: existing }) => {
    const now = new Date();
    if (existing && 'malformed' in existing)
      throw new ConfigError(
        `${existing.malformed} on the lock DaemonSet: run kured-ts resume to clear it first`,
      );
    // Pausing again keeps the first record (who and why), and finishes a pending manual lock.
    const created = existing?.created ?? goTime(now);
    const write = pausedLock(value, agents.concurrency, created, now);
    const record: PauseRecord = existing
      ? { ...existing, lock: existing.lock === 'foreign' ? 'foreign' : write.lock }
      : { by, at: now.toISOString(), reason, created, lock: write.lock };
    const lock = write.annotation === false ? annotation : write.annotation;
    const what = {
      written: "kured's manual lock is in place: no agent, kured-ts or kured, starts a new reboot",
      pending: `kured-ts agents start no new reboot; the manual lock is written when ${holdersOf(value)} releases the lock`,
      foreign: 'the lock already held a manual stop (not written by kured-ts pause); kept as it is',
    }[record.lock];
    const message = existing
      ? `already ${describePause(existing, now)}; ${what}`
      : `paused${reason ? ` (${reason})` : ''}: ${what}; cycles in progress finish and release`;
    return {
      write: {
        ...(write.annotation === false ? {} : { lock: write.annotation }),
        extra: { [PAUSE_ANNOTATION]: JSON.stringify(record) },
      },
      result: { record, lock, message },
    };
  });
}

export interface ResumeOutcome {
  message: string;
  /** True when there was a pause to end. */
  resumed: boolean;
}

/**
 * Ends a pause, and releases the lock entries of nodes whose rollout halted (not healthy after
 * their reboot, docs/healthy-return.md): their agents see the entry go and forget the cycle.
 */
export async function resume(c: OperatorClients, o: KubeOptions): Promise<ResumeOutcome> {
  const agents = agentsConfig(await readAgentsDaemonSet(c, o), o);
  const store = await lockStore(c, agents);
  const halted = await haltedNodes(c);
  const record = await store.update(undefined, ({ value, pause: record }) => {
    if (!record) return { write: false, result: record };
    const next = 'malformed' in record ? false : resumedLock(value, record, new Date());
    return {
      write: { ...(next === false ? {} : { lock: next ?? null }), extra: { [PAUSE_ANNOTATION]: null } },
      result: record,
    };
  });
  // Then each halted node's entry, through the agents' own release (the hand-over updated with it).
  const released: string[] = [];
  for (const node of halted) {
    const outcome = await releaseHalted({ name: node.name, read: async () => node }, store, new Date());
    if (outcome.released) released.push(node.name);
  }
  if (!record && released.length === 0)
    return { resumed: false, message: 'not paused and no rollout halted: nothing to resume' };
  const now = new Date();
  const after = (await store.read(true)).value;
  const leftover =
    after.form === 'manual' && (!record || 'malformed' in record || record.lock === 'foreign')
      ? `; the lock still holds a manual stop kured-ts pause did not write: remove it with kubectl -n ${agents.dsNamespace} annotate ds ${agents.dsName} ${agents.lockAnnotation}-`
      : '';
  const words = [
    ...(record ? [`resumed (${describePause(record, now)})`] : []),
    ...(released.length
      ? [`released the lock of the halted node(s) ${released.join(', ')}: the rollout goes on`]
      : []),
  ];
  return { resumed: true, message: `${words.join('; ')}${leftover}` };
}

/** Nodes whose cycle is halted: back from the reboot, not healthy in time, keeping the lock. */
async function haltedNodes(c: OperatorClients): Promise<NodeView[]> {
  const now = new Date();
  return (await c.core.listNode()).items.map(viewNode).filter((n) => {
    const cycle = parseCycle(n.annotations[CYCLE_ANNOTATION], now);
    return cycle?.phase === 'settling' && cycle.halted !== undefined;
  });
}

function holdersOf(value: ReturnType<typeof parseLock>): string {
  return value.form === 'single' ? value.entry.nodeID : 'the holder';
}

/**
 * The agents' own lock store (src/lock/store.ts) on the operator's credentials: one writer of the
 * lock, each write guarded by the resourceVersion it was computed from and retried on a conflict.
 */
async function lockStore(c: OperatorClients, agents: Config): Promise<DaemonSetLock> {
  // One clear line when the lock DaemonSet is not there.
  await readLockDaemonSet(c, agents);
  // A command says what it did in one line: the store's debug lines (conflicts retried) are not shown.
  return new DaemonSetLock(c.kube, lockSettings(agents), realClock, { debug: () => {} });
}
