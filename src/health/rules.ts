/**
 * What counts as back: the rules over the node's pods, pure so that test/unit/health reads as their
 * table. A rebooted node is healthy when every DaemonSet pod on it is Running and Ready, and every
 * pod matching --post-reboot-ready-selector is Ready, each on a state reported since the reboot.
 */

/** One pod on the node, as far as the rules care (src/health/node-pods.ts maps the API's pods to it). */
export interface PodState {
  namespace: string;
  name: string;
  /** Controlled by a DaemonSet: what the node itself needs (networking, storage, kube-proxy...). */
  daemonSet: boolean;
  /** Matches a --post-reboot-ready-selector. */
  selected: boolean;
  /** Being deleted: on its way out, not what the node waits for. */
  deleting: boolean;
  phase: string;
  ready: boolean;
  /** When the Ready condition last changed. */
  readySince?: Date;
  /** When each running container started. */
  startedAt: Date[];
}

/** At most this many pods are named in a reason (it goes into Events, notifications and status). */
const NAMED = 3;

/** One phrase per pod that keeps the node from counting as back; empty when it is healthy. */
export function podProblems(pods: PodState[], rebootedAfter: Date | undefined): string[] {
  const problems: string[] = [];
  for (const p of pods) {
    if (p.deleting || !(p.daemonSet || p.selected)) continue;
    const id = `pod ${p.namespace}/${p.name}`;
    // A completed pod of a Job matched by a selector has nothing left to be Ready for.
    if (!p.daemonSet && p.phase === 'Succeeded') continue;
    if (p.phase !== 'Running') problems.push(`${id} ${p.phase || 'Pending'}`);
    else if (!p.ready) problems.push(`${id} not Ready`);
    else if (rebootedAfter && stale(p, rebootedAfter))
      problems.push(`${id} not yet restarted since the reboot`);
  }
  return problems;
}

/**
 * Right after the reboot the API may still show a pod's status from before it (the kubelet has not
 * reported yet): Ready since before the reboot, with containers started before it. Timestamps are
 * whole seconds, hence the rounding; a pod with neither timestamp is taken at its word.
 */
function stale(p: PodState, rebootedAfter: Date): boolean {
  const after = Math.floor(rebootedAfter.getTime() / 1000) * 1000;
  if (p.readySince && p.readySince.getTime() >= after) return false;
  if (p.startedAt.length > 0) return p.startedAt.some((t) => t.getTime() < after);
  return p.readySince !== undefined;
}

/** The problems in one line: the first few pods, then how many more. */
export function describeProblems(problems: string[]): string {
  const named = problems.slice(0, NAMED).join(', ');
  const more = problems.length - NAMED;
  return more > 0 ? `${named} and ${more} more` : named;
}
