/** Helpers shared by the agent end-to-end tests: reading the lock, node state and Events. */
import { existsSync, rmSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, EventsV1Api } from '@kubernetes/client-node';
import { type Cluster, pollUntil } from '../../../testbed/src/index.ts';

export const LOCK = 'weave.works/kured-node-lock';
export const CYCLE = 'kured-ts.dev/reboot-cycle';

export function clients(cluster: Cluster) {
  const kc = cluster.kubeConfig();
  return {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    events: kc.makeApiClient(EventsV1Api),
  };
}

export async function lockValue(
  cluster: Cluster,
  dsName: string,
  ns = 'kube-system',
): Promise<string | undefined> {
  const ds = await clients(cluster).apps.readNamespacedDaemonSet({ name: dsName, namespace: ns });
  return ds.metadata?.annotations?.[LOCK];
}

export async function setLock(
  cluster: Cluster,
  dsName: string,
  value: string | null,
  ns = 'kube-system',
): Promise<void> {
  const { apps } = clients(cluster);
  const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  await apps.patchNamespacedDaemonSet(
    { name: dsName, namespace: ns, body: { metadata: { annotations: { [LOCK]: value } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function nodeState(cluster: Cluster, node: string) {
  const n = await clients(cluster).core.readNode({ name: node });
  return {
    unschedulable: n.spec?.unschedulable === true,
    ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    annotations: n.metadata?.annotations ?? {},
    labels: n.metadata?.labels ?? {},
    taints: n.spec?.taints ?? [],
  };
}

export async function cordon(cluster: Cluster, node: string, unschedulable: boolean): Promise<void> {
  const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  await clients(cluster).core.patchNode(
    { name: node, body: { spec: { unschedulable: unschedulable || null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Puts every node back as a fresh test expects it: schedulable, no sentinel, no cycle. */
export async function resetNodes(cluster: Cluster): Promise<void> {
  const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  const { core } = clients(cluster);
  for (const node of cluster.nodes) {
    if (existsSync(cluster.sentinelPath(node))) rmSync(cluster.sentinelPath(node));
    await core.patchNode(
      { name: node, body: { spec: { unschedulable: null }, metadata: { annotations: { [CYCLE]: null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

/** Event reasons recorded on the node by kured-ts, oldest first. */
export async function eventReasons(cluster: Cluster, node: string): Promise<string[]> {
  const list = await clients(cluster).events.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: `regarding.name=${node}`,
  });
  return list.items
    .filter((e) => e.reportingController === 'kured-ts.dev/agent')
    .sort(
      (a, b) =>
        new Date(a.eventTime as unknown as string).getTime() -
        new Date(b.eventTime as unknown as string).getTime(),
    )
    .map((e) => e.reason ?? '');
}

export function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
) {
  return pollUntil(check, {
    timeoutMs,
    intervalMs: 200,
    describe: () => `timed out after ${timeoutMs / 1000}s waiting for ${what}`,
  });
}

/** A Running pod on `node` guarded by a PodDisruptionBudget that allows no disruption. */
export async function guardedPod(cluster: Cluster, namespace: string, node: string): Promise<void> {
  const { PolicyV1Api } = await import('@kubernetes/client-node');
  const kc = cluster.kubeConfig();
  const { core } = clients(cluster);
  const policy = kc.makeApiClient(PolicyV1Api);
  await cluster.createNamespace(namespace);
  const labels = { app: 'guarded' };
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'guarded', labels },
      spec: {
        nodeName: node,
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'app', image: 'app:1' }],
      },
    },
  });
  await policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name: 'guard' }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
  });
  await waitFor('the budget to allow no disruption with the pod healthy', async () => {
    const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'guard', namespace });
    const s = pdb.status;
    return (
      s?.observedGeneration === pdb.metadata?.generation &&
      s?.currentHealthy === 1 &&
      s?.disruptionsAllowed === 0
    );
  });
}

export async function deleteBudget(cluster: Cluster, namespace: string): Promise<void> {
  const { PolicyV1Api } = await import('@kubernetes/client-node');
  await cluster
    .kubeConfig()
    .makeApiClient(PolicyV1Api)
    .deleteNamespacedPodDisruptionBudget({ name: 'guard', namespace });
}

export async function cyclePhase(cluster: Cluster, node: string): Promise<string | undefined> {
  const raw = (await nodeState(cluster, node)).annotations[CYCLE];
  return raw ? (JSON.parse(raw) as { phase: string }).phase : undefined;
}
