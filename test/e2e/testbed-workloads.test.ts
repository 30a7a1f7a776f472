/**
 * The testbed behaves like a cluster: the scheduler and the workload controllers recreate evicted pods
 * elsewhere under a PodDisruptionBudget, a DaemonSet has its pod on every node, and a node's pods
 * restart with it across a reboot, Ready again after their own delay (or never).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import { type Cluster, isApiStatus, pollUntil, startCluster } from '../../testbed/src/index.ts';
import { READY_AFTER_REBOOT } from '../../testbed/src/pod-restarts.ts';

const BOOT_TIMEOUT = 30 * 60_000;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function isReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function restarts(p: V1Pod): number {
  return p.status?.containerStatuses?.[0]?.restartCount ?? 0;
}

/** One pod as a watch event showed it, in the API server's order, with the time it arrived here. */
interface PodEvent {
  type: string;
  name: string;
  uid: string;
  node: string;
  ready: boolean;
  deleting: boolean;
  restarts: number;
  at: number;
}

/** Records every pod event of a namespace from a watch, in the order the API server wrote them. */
class PodLog {
  readonly events: PodEvent[] = [];
  private abort: AbortController | undefined;
  /** How many events came from the initial list (the state before the watch). */
  private listed = 0;

  async start(cluster: Cluster, namespace: string): Promise<void> {
    const kc = cluster.kubeConfig();
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace });
    for (const p of list.items) this.record('ADDED', p);
    this.listed = this.events.length;
    this.abort = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      { resourceVersion: list.metadata?.resourceVersion },
      (type, p: V1Pod) => this.record(type, p),
      () => {},
    );
  }

  stop(): void {
    this.abort?.abort();
  }

  private record(type: string, p: V1Pod): void {
    this.events.push({
      type,
      name: p.metadata?.name ?? '',
      uid: p.metadata?.uid ?? '',
      node: p.spec?.nodeName ?? '',
      ready: isReady(p),
      deleting: type === 'DELETED' || p.metadata?.deletionTimestamp !== undefined,
      restarts: restarts(p),
      at: Date.now(),
    });
  }

  /** The fewest pods that were Ready and not being deleted at any moment of the log. */
  minHealthy(): number {
    const healthy = new Map<string, boolean>();
    let min = Number.POSITIVE_INFINITY;
    for (const [i, e] of this.events.entries()) {
      healthy.set(e.uid, e.ready && !e.deleting);
      if (i >= this.listed - 1) min = Math.min(min, [...healthy.values()].filter(Boolean).length);
    }
    return min;
  }

  of(name: string): PodEvent[] {
    return this.events.filter((e) => e.name === name);
  }
}

describe('testbed workloads', () => {
  let cluster: Cluster;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let policy: PolicyV1Api;

  before(
    async () => {
      cluster = await startCluster({ nodes: 4, rebootDelayMs: 1000 });
      const kc = cluster.kubeConfig();
      core = kc.makeApiClient(CoreV1Api);
      apps = kc.makeApiClient(AppsV1Api);
      policy = kc.makeApiClient(PolicyV1Api);
    },
    { timeout: BOOT_TIMEOUT },
  );
  after(() => cluster?.stop());

  const webPods = async (namespace: string) =>
    (await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );

  test('a Deployment under a PDB drained through the Eviction API moves one pod at a time to other nodes', async () => {
    const ns = 'drain-moves';
    const replicas = 6;
    await cluster.createNamespace(ns);
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
            },
          },
        },
      },
    });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { minAvailable: replicas - 1, selector: { matchLabels: labels } },
      },
    });
    // The scheduler spreads 6 pods over 4 nodes: some node has at least two.
    const placed = await pollUntil(
      async () => {
        const pods = await webPods(ns);
        return pods.length === replicas && pods.every((p) => p.spec?.nodeName && isReady(p)) && pods;
      },
      { timeoutMs: 30_000, describe: () => `the Deployment did not get ${replicas} Ready pods` },
    );
    const perNode = Map.groupBy(placed, (p) => p.spec?.nodeName ?? '');
    const [node, onNode] = [...perNode].sort((a, b) => b[1].length - a[1].length)[0]!;
    assert.ok(onNode.length >= 2, `a node with two web pods: ${[...perNode.keys()].join(',')}`);
    await pollUntil(
      async () =>
        (await policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: 'web' })).status
          ?.disruptionsAllowed === 1,
      { timeoutMs: 30_000, describe: () => 'the PDB never allowed one disruption' },
    );

    const others = (await core.listNode()).items.map((n) => n.metadata?.name ?? '').filter((n) => n !== node);
    const cordon = (name: string, on: boolean) =>
      core.patchNode({ name, body: { spec: { unschedulable: on ? true : null } } }, mergePatch);
    const log = new PodLog();
    await log.start(cluster, ns);
    try {
      await cordon(node, true);
      // The other nodes stay cordoned until the budget has refused an eviction: the first replacement
      // cannot be Ready before that, so the refusal does not depend on the machine's speed.
      await Promise.all(others.map((n) => cordon(n, true)));
      // As kubectl drain: every pod of the node evicted at once, each retried while the budget says 429.
      let refused = 0;
      const evicted: string[] = [];
      await Promise.all(
        onNode.map((p) =>
          pollUntil(
            async () => {
              const name = p.metadata?.name ?? '';
              try {
                await core.createNamespacedPodEviction({
                  namespace: ns,
                  name,
                  body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } },
                });
                evicted.push(name);
                return true;
              } catch (err) {
                if (!isApiStatus(err, 429)) throw err;
                if (++refused === 1) await Promise.all(others.map((n) => cordon(n, false)));
                return false;
              }
            },
            { timeoutMs: 60_000, intervalMs: 200, describe: () => `${p.metadata?.name} never evicted` },
          ),
        ),
      );
      const moved = await pollUntil(
        async () => {
          const pods = await webPods(ns);
          return pods.length === replicas && pods.every(isReady) && pods;
        },
        { timeoutMs: 30_000, describe: () => 'the Deployment did not get back to 6 Ready pods' },
      );
      assert.ok(refused > 0, 'the budget refused an eviction while a replacement was not Ready');
      assert.deepEqual(
        moved.filter((p) => p.spec?.nodeName === node).map((p) => p.metadata?.name),
        [],
        `no web pod left on the drained ${node}`,
      );
      // Never fewer than minAvailable healthy: each eviction waited for the previous replacement.
      assert.equal(log.minHealthy(), replicas - 1, JSON.stringify(log.events));
      // Between two evictions, a replacement elsewhere became Ready (the API server's own order).
      const firstGone = log.events.findIndex((e) => e.deleting && e.name === evicted[0]);
      const secondGone = log.events.findIndex((e) => e.deleting && e.name === evicted[1]);
      const replacementReady = log.events.findIndex(
        (e, i) => i > firstGone && e.ready && !e.deleting && !placed.some((p) => p.metadata?.uid === e.uid),
      );
      assert.ok(
        firstGone >= 0 && replacementReady > firstGone && secondGone > replacementReady,
        `evicted ${evicted.join(', ')}: ${JSON.stringify(log.events)}`,
      );
      assert.notEqual(log.events[replacementReady]!.node, node);
    } finally {
      log.stop();
      await Promise.all([node, ...others].map((n) => cordon(n, false)));
    }
  });

  test('a DaemonSet has one Ready pod per node, recreated on its node when deleted', async () => {
    const ns = 'daemons';
    await cluster.createNamespace(ns);
    const labels = { app: 'daemon' };
    await apps.createNamespacedDaemonSet({
      namespace: ns,
      body: {
        metadata: { name: 'daemon' },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'daemon', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      },
    });
    const readyPods = () =>
      pollUntil(
        async () => {
          const pods = (await core.listNamespacedPod({ namespace: ns })).items.filter(
            (p) => !p.metadata?.deletionTimestamp,
          );
          return pods.length === cluster.nodes.length && pods.every(isReady) && pods;
        },
        { timeoutMs: 30_000, describe: () => 'the DaemonSet did not get a Ready pod on every node' },
      );
    const pods = await readyPods();
    assert.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), [...cluster.nodes].sort());
    for (const p of pods) assert.equal(p.metadata?.ownerReferences?.[0]?.kind, 'DaemonSet');

    const victim = pods[0]!;
    await core.deleteNamespacedPod({ namespace: ns, name: victim.metadata?.name ?? '' });
    const again = await pollUntil(
      async () => {
        const now = await readyPods();
        return !now.some((p) => p.metadata?.uid === victim.metadata?.uid) && now;
      },
      { timeoutMs: 30_000, describe: () => 'the deleted DaemonSet pod was not replaced' },
    );
    assert.deepEqual(again.map((p) => p.spec?.nodeName).sort(), [...cluster.nodes].sort());
    await apps.deleteNamespacedDaemonSet({ namespace: ns, name: 'daemon' });
  });

  test("a reboot restarts the node's pods: not Ready while down, Ready again after each pod's delay, or never", async () => {
    const ns = 'restarts';
    const node = 'node-4';
    await cluster.createNamespace(ns);
    const delays: Record<string, string | undefined> = { quick: undefined, slow: '3s', stuck: 'never' };
    for (const [name, delay] of Object.entries(delays)) {
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name, annotations: delay ? { [READY_AFTER_REBOOT]: delay } : {} },
          spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
        },
      });
    }
    await pollUntil(
      async () => (await core.listNamespacedPod({ namespace: ns })).items.filter(isReady).length === 3,
      { timeoutMs: 30_000, describe: () => 'the pods did not become Ready' },
    );
    const log = new PodLog();
    await log.start(cluster, ns);
    let startedAt = 0;
    cluster.events.once('reboot:start', () => {
      startedAt = Date.now();
    });
    try {
      await cluster.reboot(node);
      const quickReady = await pollUntil(() => log.of('quick').find((e) => e.restarts === 1 && e.ready), {
        timeoutMs: 10_000,
        describe: () => `quick not Ready again: ${JSON.stringify(log.of('quick'))}`,
      });
      const slowReady = await pollUntil(() => log.of('slow').find((e) => e.restarts === 1 && e.ready), {
        timeoutMs: 15_000,
        describe: () => `slow not Ready again: ${JSON.stringify(log.of('slow'))}`,
      });
      // The stuck pod had its chance for a while after the others: still restarted and not Ready.
      await new Promise((r) => setTimeout(r, 1500));

      for (const name of Object.keys(delays)) {
        const seen = log.of(name);
        const notReadyWhileDown = seen.find((e) => !e.ready && e.restarts === 0);
        assert.ok(notReadyWhileDown, `${name} not Ready while its node was down: ${JSON.stringify(seen)}`);
        assert.ok(notReadyWhileDown.at >= startedAt, `${name} turned not Ready with the reboot`);
        const restarted = seen.find((e) => e.restarts === 1);
        assert.ok(restarted && !restarted.ready, `${name} restarted, not Ready: ${JSON.stringify(seen)}`);
        // Never Ready between going down and its delay's end.
        const early = seen.find((e) => e.at > notReadyWhileDown.at && e.ready && e.restarts === 0);
        assert.equal(early, undefined, `${name} Ready again before restarting: ${JSON.stringify(seen)}`);
      }
      const restartedAt = (name: string) => log.of(name).find((e) => e.restarts === 1)!.at;
      // Watch events arrive with some jitter; a pod Ready too early would be off by its whole delay.
      const quickAfter = quickReady.at - restartedAt('quick');
      const slowAfter = slowReady.at - restartedAt('slow');
      assert.ok(quickAfter >= 500, `quick Ready ${quickAfter} ms after its restart (default delay 1s)`);
      assert.ok(slowAfter >= 2500, `slow Ready ${slowAfter} ms after its restart (delay 3s)`);
      const stuck = await core.readNamespacedPod({ namespace: ns, name: 'stuck' });
      assert.equal(isReady(stuck), false, 'the pod set never to recover is not Ready');
      assert.equal(restarts(stuck), 1);
      assert.equal(stuck.status?.phase, 'Running');
      assert.equal(stuck.status?.containerStatuses?.[0]?.lastState?.terminated?.reason, 'Unknown');
    } finally {
      log.stop();
    }
  });
});
