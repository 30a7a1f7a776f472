/**
 * `kured-ts pause [--reason TEXT]` and `kured-ts resume`: stop new reboots cluster-wide (kured's
 * manual lock, which kured's agents respect too) with a record of who, when and why beside it;
 * resume removes exactly what pause wrote. Both are one resourceVersion-guarded merge patch of the
 * lock DaemonSet, retried on conflict, so an agent taking or releasing the lock meanwhile is safe.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ConfigError } from '../config/errors.ts';
import { isConflict } from '../kube/errors.ts';
import { goTime, parseLock } from '../lock/codec.ts';
import {
  describePause,
  PAUSE_ANNOTATION,
  type PauseRecord,
  parsePause,
  pausedLock,
  resumedLock,
} from '../lock/pause.ts';
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

export async function resume(c: OperatorClients, o: KubeOptions): Promise<ResumeOutcome> {
  const agents = agentsConfig(await readAgentsDaemonSet(c, o), o);
  return update<ResumeOutcome>(c, agents, (annotations, now) => {
    const record = parsePause(annotations[PAUSE_ANNOTATION]);
    if (!record)
      return { patch: undefined, result: { resumed: false, message: 'not paused: nothing to resume' } };
    const value = parseLock(annotations[agents.lockAnnotation]);
    const next = 'malformed' in record ? false : resumedLock(value, record, now);
    const leftover =
      parseLock(next === false ? annotations[agents.lockAnnotation] : next).form === 'manual'
        ? `; the lock still holds a manual stop kured-ts pause did not write: remove it with kubectl -n ${agents.dsNamespace} annotate ds ${agents.dsName} ${agents.lockAnnotation}-`
        : '';
    return {
      patch: {
        [PAUSE_ANNOTATION]: null,
        ...(next === false ? {} : { [agents.lockAnnotation]: next ?? null }),
      },
      result: { resumed: true, message: `resumed (${describePause(record, now)})${leftover}` },
    };
  });
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
