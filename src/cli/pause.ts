/**
 * `kured-ts pause [--reason TEXT]` and `kured-ts resume`: stop new reboots cluster-wide (kured's
 * manual lock, which kured's agents respect too) with a record of who, when and why beside it;
 * resume removes exactly what pause wrote. Both are one resourceVersion-guarded merge patch of the
 * lock DaemonSet, retried on conflict, so an agent taking or releasing the lock meanwhile is safe.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { CYCLE_ANNOTATION, parseCycle } from '../core/cycle.ts';
import { ConfigError } from '../core/errors.ts';
import { goTime, liveEntries, parseLock, release } from '../core/lock/codec.ts';
import {
  describePause,
  PAUSE_ANNOTATION,
  type PauseRecord,
  parsePause,
  pausedLock,
  resumedLock,
} from '../core/lock/pause.ts';
import { isConflict } from '../kube/errors.ts';
import { viewNode } from '../kube/node.ts';
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
  return update(c, agents, (annotations, now) => {
    const existing = parsePause(annotations[PAUSE_ANNOTATION]);
    const value = parseLock(annotations[agents.lockAnnotation]);
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
    const lock = write.annotation === false ? annotations[agents.lockAnnotation] : write.annotation;
    const what = {
      written: "kured's manual lock is in place: no agent, kured-ts or kured, starts a new reboot",
      pending: `kured-ts agents start no new reboot; the manual lock is written when ${holdersOf(value)} releases the lock`,
      foreign: 'the lock already held a manual stop (not written by kured-ts pause); kept as it is',
    }[record.lock];
    const message = existing
      ? `already ${describePause(existing, now)}; ${what}`
      : `paused${reason ? ` (${reason})` : ''}: ${what}; cycles in progress finish and release`;
    return {
      patch: {
        [PAUSE_ANNOTATION]: JSON.stringify(record),
        ...(write.annotation === false ? {} : { [agents.lockAnnotation]: write.annotation }),
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
  const halted = await haltedNodes(c);
  return update<ResumeOutcome>(c, agents, (annotations, now) => {
    const record = parsePause(annotations[PAUSE_ANNOTATION]);
    let lock = annotations[agents.lockAnnotation];
    let changed = false;
    if (record && !('malformed' in record)) {
      const next = resumedLock(parseLock(lock), record, now);
      if (next !== false) [lock, changed] = [next, true];
    }
    const released: string[] = [];
    for (const node of halted) {
      if (!liveEntries(parseLock(lock), now).some((e) => e.nodeID === node)) continue;
      const next = release(parseLock(lock), node, agents.concurrency, now);
      if (next === false) continue;
      [lock, changed] = [next, true];
      released.push(node);
    }
    if (!record && released.length === 0)
      return {
        patch: undefined,
        result: { resumed: false, message: 'not paused and no rollout halted: nothing to resume' },
      };
    const leftover =
      parseLock(lock).form === 'manual' && (!record || 'malformed' in record || record.lock === 'foreign')
        ? `; the lock still holds a manual stop kured-ts pause did not write: remove it with kubectl -n ${agents.dsNamespace} annotate ds ${agents.dsName} ${agents.lockAnnotation}-`
        : '';
    const words = [
      ...(record ? [`resumed (${describePause(record, now)})`] : []),
      ...(released.length
        ? [`released the lock of the halted node(s) ${released.join(', ')}: the rollout goes on`]
        : []),
    ];
    return {
      patch: {
        ...(record ? { [PAUSE_ANNOTATION]: null } : {}),
        ...(changed ? { [agents.lockAnnotation]: lock ?? null } : {}),
      },
      result: { resumed: true, message: `${words.join('; ')}${leftover}` },
    };
  });
}

/** Nodes whose cycle is halted: back from the reboot, not healthy in time, keeping the lock. */
async function haltedNodes(c: OperatorClients): Promise<string[]> {
  const now = new Date();
  return (await c.core.listNode()).items
    .map(viewNode)
    .filter((n) => {
      const cycle = parseCycle(n.annotations[CYCLE_ANNOTATION], now);
      return cycle?.phase === 'settling' && cycle.halted !== undefined;
    })
    .map((n) => n.name);
}

function holdersOf(value: ReturnType<typeof parseLock>): string {
  return value.form === 'single' ? value.entry.nodeID : 'the holder';
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Read, change, write under the resourceVersion read; again on a conflict. */
async function update<T>(
  c: OperatorClients,
  agents: { dsNamespace: string; dsName: string },
  change: (
    annotations: Record<string, string>,
    now: Date,
  ) => { patch: Record<string, string | null> | undefined; result: T },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ds = await readLockDaemonSet(c, agents);
    const { patch, result } = change(ds.metadata?.annotations ?? {}, new Date());
    if (!patch) return result;
    try {
      await c.apps.patchNamespacedDaemonSet(
        {
          name: agents.dsName,
          namespace: agents.dsNamespace,
          body: { metadata: { resourceVersion: ds.metadata?.resourceVersion, annotations: patch } },
        },
        mergePatch,
      );
      return result;
    } catch (err) {
      if (!isConflict(err) || attempt >= 10) throw err;
    }
  }
}
