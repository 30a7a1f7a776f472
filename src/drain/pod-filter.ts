import type { V1Pod } from '@kubernetes/client-node';

/**
 * Which pods `kubectl drain --ignore-daemonsets --delete-emptydir-data --force` would evict
 * (kured's hard-coded options), as a pure function: one named filter per reason, as kubectl's
 * pkg/drain has, run in kubectl's order; the first skip wins. One difference: kubectl GETs a pod's DaemonSet and deletes the pod when the
 * DaemonSet is gone; we do not (that needs a cluster-wide grant on DaemonSets), so orphaned
 * DaemonSet pods are skipped, not deleted.
 */

export type SkipReason = 'deletedLongAgo' | 'daemonSet' | 'mirror';
export type EvictWarning = 'localStorage' | 'unmanaged';

export type PodVerdict = { evict: true; warnings: EvictWarning[] } | { evict: false; skip: SkipReason };

/** kubectl's words, so operators recognise them. */
export const SKIP_TEXT: Record<SkipReason, string> = {
  deletedLongAgo: 'ignoring Pods deleted longer ago than skip-wait-for-delete-timeout',
  daemonSet: 'ignoring DaemonSet-managed Pods',
  mirror: 'ignoring mirror Pods',
};
export const WARNING_TEXT: Record<EvictWarning, string> = {
  localStorage: 'deleting Pods with local storage',
  unmanaged: 'deleting Pods that declare no controller',
};

const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** `namespace/name`, the way pods are named in logs, Events and results. */
export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

export function isFinished(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** True when the pod's deletion started more than `seconds` ago (never when seconds <= 0). */
export function deletedLongerAgoThan(pod: V1Pod, seconds: number, now: Date): boolean {
  const since = pod.metadata?.deletionTimestamp;
  if (seconds <= 0 || since === undefined || since === null) return false;
  return now.getTime() - new Date(since).getTime() > seconds * 1000;
}

/** What one filter says of a pod: skip it (why), evict it with a warning, or nothing. */
type FilterWord = { skip: SkipReason } | { warn: EvictWarning } | undefined;
interface PodFacts {
  now: Date;
  skipWaitForDeleteTimeoutSeconds: number;
  controller: { kind: string } | undefined;
  finished: boolean;
}
type PodFilter = (pod: V1Pod, facts: PodFacts) => FilterWord;

/** kubectl's skipDeletedFilter: a pod stuck terminating past --skip-wait-for-delete-timeout. */
const skipDeletedLongAgo: PodFilter = (pod, f) =>
  deletedLongerAgoThan(pod, f.skipWaitForDeleteTimeoutSeconds, f.now)
    ? { skip: 'deletedLongAgo' }
    : undefined;

/** kubectl's daemonSetFilter (--ignore-daemonsets): a finished DaemonSet pod holds nothing, and is deleted. */
const skipDaemonSetPods: PodFilter = (_pod, f) =>
  f.controller?.kind === 'DaemonSet' && !f.finished ? { skip: 'daemonSet' } : undefined;

/** kubectl's mirrorPodFilter: the kubelet's static pods cannot be evicted through the API. */
const skipMirrorPods: PodFilter = (pod) =>
  pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined ? { skip: 'mirror' } : undefined;

/** kubectl's localStorageFilter (--delete-emptydir-data): evicted, its emptyDir data lost. */
const warnLocalStorage: PodFilter = (pod, f) =>
  !f.finished && pod.spec?.volumes?.some((v) => v.emptyDir !== undefined && v.emptyDir !== null)
    ? { warn: 'localStorage' }
    : undefined;

/** kubectl's unreplicatedFilter (--force): evicted, and nothing recreates it. */
const warnUnmanaged: PodFilter = (_pod, f) =>
  !f.finished && f.controller === undefined ? { warn: 'unmanaged' } : undefined;

/** In kubectl's order; the first skip wins. */
const FILTERS: readonly PodFilter[] = [
  skipDeletedLongAgo,
  skipDaemonSetPods,
  skipMirrorPods,
  warnLocalStorage,
  warnUnmanaged,
];

export function podVerdict(pod: V1Pod, now: Date, skipWaitForDeleteTimeoutSeconds: number): PodVerdict {
  const facts: PodFacts = {
    now,
    skipWaitForDeleteTimeoutSeconds,
    controller: pod.metadata?.ownerReferences?.find((ref) => ref.controller === true),
    finished: isFinished(pod),
  };
  const warnings: EvictWarning[] = [];
  for (const filter of FILTERS) {
    const word = filter(pod, facts);
    if (word === undefined) continue;
    if ('skip' in word) return { evict: false, skip: word.skip };
    warnings.push(word.warn);
  }
  return { evict: true, warnings };
}

export interface PodSelection {
  evict: V1Pod[];
  /** Pod keys per reason, for one log line each. */
  skipped: Partial<Record<SkipReason, string[]>>;
  warnings: Partial<Record<EvictWarning, string[]>>;
}

export function selectPodsToEvict(
  pods: V1Pod[],
  now: Date,
  skipWaitForDeleteTimeoutSeconds: number,
): PodSelection {
  const selection: PodSelection = { evict: [], skipped: {}, warnings: {} };
  for (const pod of pods) {
    const verdict = podVerdict(pod, now, skipWaitForDeleteTimeoutSeconds);
    if (!verdict.evict) {
      append(selection.skipped, verdict.skip, podKey(pod));
      continue;
    }
    selection.evict.push(pod);
    for (const w of verdict.warnings) append(selection.warnings, w, podKey(pod));
  }
  return selection;
}

function append<K extends string>(groups: Partial<Record<K, string[]>>, key: K, value: string): void {
  const list = groups[key];
  if (list) list.push(value);
  else groups[key] = [value];
}
