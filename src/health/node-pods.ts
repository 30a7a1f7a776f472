/**
 * The PodHealth port against the API server: the only file of src/health that talks to Kubernetes.
 * A read is one list of the node's pods plus one per --post-reboot-ready-selector (the API server
 * matches the selectors, so they mean exactly what kubectl's do); the watch covers the node's pods
 * only, and exists only while the agent follows them.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../core/log.ts';
import type { PodHealth } from '../core/ports.ts';
import { type Kube, paths } from '../kube/client.ts';
import { watchSelected } from '../kube/watch.ts';
import { type PodState, podProblems } from './rules.ts';

export function nodePodHealth(kube: Kube, nodeName: string, selectors: string[], logger: Logger): PodHealth {
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return {
    async problems(rebootedAfter) {
      const [all, ...matched] = await Promise.all([
        kube.list<k8s.V1Pod>(paths.pods, { fieldSelector }),
        ...selectors.map((labelSelector) =>
          kube.list<k8s.V1Pod>(paths.pods, { fieldSelector, labelSelector }),
        ),
      ]);
      const selected = new Set(matched.flatMap((list) => list.items.map((p) => p.metadata?.uid)));
      return podProblems(
        all.items.map((p) => podState(p, selected.has(p.metadata?.uid))),
        rebootedAfter,
      );
    },
    watch(onChange) {
      // Only what can change the verdict wakes the agent: not the status noise of every pod.
      const relevant = (obj: k8s.KubernetesObject) => {
        const s = podState(obj as k8s.V1Pod, false);
        return JSON.stringify([s.phase, s.ready, s.deleting, s.readySince, s.startedAt]);
      };
      const open = (path: string, signal: AbortSignal) => kube.stream(path, signal);
      return watchSelected(open, paths.pods, fieldSelector, onChange, logger, relevant);
    },
  };
}

function podState(p: k8s.V1Pod, selected: boolean): PodState {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    daemonSet: (p.metadata?.ownerReferences ?? []).some((o) => o.controller && o.kind === 'DaemonSet'),
    selected,
    deleting: p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null,
    phase: p.status?.phase ?? '',
    ready: ready?.status === 'True',
    ...(ready?.lastTransitionTime ? { readySince: date(ready.lastTransitionTime) } : {}),
    startedAt: (p.status?.containerStatuses ?? []).flatMap((c) =>
      c.state?.running?.startedAt ? [date(c.state.running.startedAt)] : [],
    ),
  };
}

/** Timestamps arrive as strings (the API's JSON as it is), whatever client-node's types say. */
function date(t: Date | string): Date {
  return t instanceof Date ? t : new Date(t);
}
