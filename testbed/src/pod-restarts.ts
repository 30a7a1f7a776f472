import type { EventEmitter } from 'node:events';
import {
  ApiException,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodCondition,
} from '@kubernetes/client-node';
import { errorMessage } from './errors.ts';

/** Per-pod delay between its containers restarting after a node reboot and the pod being Ready again. */
export const READY_AFTER_REBOOT = 'testbed.kured-ts.dev/ready-after-reboot';
export const DEFAULT_READY_AFTER_REBOOT_MS = 1000;

const strategicMergePatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** How long after the restart the pod turns Ready: a duration (`500ms`, `5s`, `2m`) or `never`. */
export function readyDelayMs(pod: V1Pod): number | 'never' {
  const raw = pod.metadata?.annotations?.[READY_AFTER_REBOOT];
  if (raw === undefined) return DEFAULT_READY_AFTER_REBOOT_MS;
  if (raw === 'never') return 'never';
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw.trim());
  if (!m) {
    throw new Error(
      `pod ${podName(pod)}: annotation ${READY_AFTER_REBOOT}="${raw}" is not a duration such as 500ms, 5s, 2m or "never"`,
    );
  }
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

/**
 * What the kubelet does to a node's pods across a reboot, for the pods kwok plays: when the node goes
 * down they turn not Ready; when it is back, every container restarts (restart count up, not Ready) and
 * the pod turns Ready after its delay ({@link READY_AFTER_REBOOT}, default 1 s), or never.
 */
export class PodRestarts {
  private readonly core: CoreV1Api;
  private readonly events: EventEmitter;
  /** A node's boot epoch: a pending "Ready" from an earlier boot must not fire after a newer reboot. */
  private readonly epochs = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(core: CoreV1Api, events: EventEmitter) {
    this.core = core;
    this.events = events;
  }

  /** The node went down: its running pods are no longer Ready. */
  async nodeDown(node: string): Promise<void> {
    this.epochs.set(node, this.epoch(node) + 1);
    const now = new Date();
    await this.forEachRunningPod(node, (pod) =>
      this.patchStatus(pod, {
        conditions: notReady(now, 'NodeNotReady', 'the node is rebooting'),
        containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => ({ ...c, ready: false })),
      }),
    );
  }

  /** The node is back: each pod's containers restart, and the pod becomes Ready after its delay. */
  async nodeUp(node: string): Promise<void> {
    const epoch = this.epoch(node);
    const now = new Date();
    await this.forEachRunningPod(node, async (pod) => {
      let delay: number | 'never';
      try {
        delay = readyDelayMs(pod);
      } catch (err) {
        this.events.emit(
          'reboot:error',
          node,
          `${errorMessage(err)}; using ${DEFAULT_READY_AFTER_REBOOT_MS} ms`,
        );
        delay = DEFAULT_READY_AFTER_REBOOT_MS;
      }
      await this.patchStatus(pod, {
        conditions: notReady(now, 'ContainersNotReady', 'containers restarted after the node rebooted'),
        containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => restarted(c, now)),
      });
      if (delay === 'never') return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.epoch(node) !== epoch) return;
        this.becomeReady(node, pod).catch((err: unknown) =>
          this.events.emit('reboot:error', node, `pod ${podName(pod)} not made Ready: ${errorMessage(err)}`),
        );
      }, delay);
      timer.unref();
      this.timers.add(timer);
    });
  }

  /** Cancels pending "Ready" transitions (the cluster is stopping). */
  shutdown(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private epoch(node: string): number {
    return this.epochs.get(node) ?? 0;
  }

  private async becomeReady(node: string, before: V1Pod): Promise<void> {
    const pod = await untilAnswered(() =>
      this.core.readNamespacedPod({
        name: before.metadata?.name ?? '',
        namespace: before.metadata?.namespace ?? '',
      }),
    );
    // Replaced by a pod of the same name (a StatefulSet), deleted meanwhile, or moved: not ours any more.
    if (pod.metadata?.uid !== before.metadata?.uid || pod.metadata?.deletionTimestamp) return;
    if (pod.spec?.nodeName !== node) return;
    const now = new Date();
    await this.patchStatus(pod, {
      conditions: [
        { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
        { type: 'Ready', status: 'True', lastTransitionTime: now },
      ],
      containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => ({ ...c, ready: true })),
    });
  }

  private async forEachRunningPod(node: string, act: (pod: V1Pod) => Promise<void>): Promise<void> {
    const list = await untilAnswered(() =>
      this.core.listPodForAllNamespaces({
        fieldSelector: `spec.nodeName=${node},status.phase=Running`,
      }),
    );
    const results = await Promise.allSettled(
      list.items.filter((p) => !p.metadata?.deletionTimestamp).map(act),
    );
    for (const r of results) {
      // A pod deleted in between is fine; anything else is reported, and the other pods still restart.
      if (r.status === 'rejected' && !/\b404\b|NotFound/.test(errorMessage(r.reason)))
        this.events.emit('reboot:error', node, `pod status: ${errorMessage(r.reason)}`);
    }
  }

  private async patchStatus(
    pod: V1Pod,
    status: { conditions: V1PodCondition[]; containerStatuses: V1ContainerStatus[] },
  ): Promise<void> {
    await untilAnswered(() => this.patchStatusOnce(pod, status));
  }

  private async patchStatusOnce(
    pod: V1Pod,
    status: { conditions: V1PodCondition[]; containerStatuses: V1ContainerStatus[] },
  ): Promise<void> {
    await this.core.patchNamespacedPodStatus(
      {
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        // The uid is immutable, so a patch naming the old one fails on a replacement with the same name.
        body: { metadata: { uid: pod.metadata?.uid }, status },
      },
      strategicMergePatch,
    );
  }
}

/** How long a call is retried while the API server does not answer (a kubelet retries for ever). */
const RETRY_MS = 180_000;

/**
 * Retries while the API server gives no answer or a 5xx (restarting, frozen, its etcd down: the chaos
 * bench's faults), so a pod is not left NotReady for good; an answer such as 404 or 409 is final.
 */
async function untilAnswered<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_MS;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const code = err instanceof ApiException ? err.code : 0;
      if ((code > 0 && code < 500) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500).unref());
    }
  }
}

function notReady(now: Date, reason: string, message: string): V1PodCondition[] {
  return [
    { type: 'ContainersReady', status: 'False', reason, message, lastTransitionTime: now },
    { type: 'Ready', status: 'False', reason, message, lastTransitionTime: now },
  ];
}

/** A container after its node rebooted: the old run ended with the boot, a new one runs, not Ready yet. */
function restarted(c: V1ContainerStatus, now: Date): V1ContainerStatus {
  return {
    ...c,
    ready: false,
    started: true,
    restartCount: (c.restartCount ?? 0) + 1,
    lastState: {
      terminated: {
        exitCode: 255,
        reason: 'Unknown',
        startedAt: c.state?.running?.startedAt,
        finishedAt: now,
      },
    },
    state: { running: { startedAt: now } },
  };
}

function podName(pod: V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}
