/**
 * The reboot cycle's progress, kept on the Node as one annotation so that it survives the agent
 * being killed and the node rebooting. Everything the decision needs beyond what the cluster
 * already shows lives here; nothing lives only in process memory.
 */
export const CYCLE_ANNOTATION = 'kured-ts.dev/reboot-cycle';

/**
 * On a node in its cycle with the lock (every phase but backoff): the uid of the lock's DaemonSet
 * the slot was taken in. The lock lives only in that object's annotation: deleted and created again
 * (`helm uninstall` and `install` during a rollout), it comes back empty. A node about to take a
 * slot lists the nodes whose label names another uid and counts them as holders (and puts them back
 * in the lock), so that nodes still down are never forgotten.
 */
export const IN_CYCLE_LABEL = 'kured-ts.dev/in-cycle';

/**
 * settling: back on a new boot and uncordoned, holding the lock until the node is healthy;
 * releasing: healthy, holding the lock for --lock-release-delay (without one, settling releases).
 */
export type CyclePhase = 'draining' | 'rebooting' | 'settling' | 'releasing' | 'backoff';

export interface Cycle {
  phase: CyclePhase;
  /** True when the node was schedulable before we took the lock: only then do we uncordon it. */
  cordonedByUs: boolean;
  /** When this phase began (RFC 3339). */
  since: string;
  /** rebooting: the boot ID the node had before the reboot; a different one proves it rebooted. */
  bootID?: string;
  /**
   * rebooting: the boot ID of the kernel the agent ran on when it recorded the phase (where it can
   * read it). Another one now proves the reboot before the kubelet reports it on the Node.
   */
  kernelBootID?: string;
  /** rebooting: set once the reboot request returned; absent means it may never have been sent. */
  requestedAt?: string;
  /** backoff: no new attempt before this instant (RFC 3339). */
  until?: string;
  /** backoff: why the last attempt was given up. */
  reason?: string;
  /** settling: when the reboot began (the rebooting phase's start); pod states older than this are stale. */
  rebootedAfter?: string;
  /** settling: set when the node was not healthy within --post-reboot-timeout: why (the rollout halts). */
  halted?: string;
  /** draining: why the last drain failed; the next decision reboots anyway (--force-reboot) or gives up. */
  drainFailed?: string;
  /** rebooting: why the reboot request failed; the next decision gives the attempt up. */
  rebootFailed?: string;
  /** The lock DaemonSet's uid when the slot was taken (IN_CYCLE_LABEL); another one means it was recreated. */
  lockUid?: string;
  /** When the lock was taken (RFC 3339): the cycle's start in the node's history. */
  started?: string;
  /** Set once drained: how long cordon and evictions took. */
  drainSeconds?: number;
  /** The Alertmanager silences held during this reboot (--silence-during-reboot), to expire once healthy. */
  silences?: string[];
  /** Set once back: from the reboot request to Ready on a new boot ID. */
  rebootSeconds?: number;
}

const PHASES: readonly CyclePhase[] = ['draining', 'rebooting', 'settling', 'releasing', 'backoff'];

/** undefined for no annotation; a malformed one reads as a backoff so that nothing drastic follows. */
export function parseCycle(raw: string | undefined, now: Date): Cycle | undefined {
  if (raw === undefined) return undefined;
  try {
    const c = JSON.parse(raw) as Partial<Cycle>;
    if (PHASES.includes(c.phase as CyclePhase) && typeof c.since === 'string') {
      return { ...c, cordonedByUs: c.cordonedByUs === true } as Cycle;
    }
  } catch {
    // fall through
  }
  return {
    phase: 'backoff',
    cordonedByUs: false,
    since: now.toISOString(),
    until: now.toISOString(),
    reason: `unreadable ${CYCLE_ANNOTATION} annotation`,
  };
}

export function serializeCycle(c: Cycle): string {
  return JSON.stringify(c);
}

/** The IN_CYCLE_LABEL value a cycle's writes carry: the lock's uid while it holds a slot, else none. */
export function inCycleLabel(c: Cycle | undefined): string | null {
  return c && c.phase !== 'backoff' && c.lockUid ? c.lockUid : null;
}
