/**
 * The drainer against the real control plane (testbed: kube-apiserver, the disruption controller
 * computing PDB status, kwok running and finalizing pods). Every case drains its own node and
 * works in a fresh namespace; pods are created with spec.nodeName, so each lands on the node its case drains.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1OwnerReference,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import type { Clock, DrainResult } from '../../src/core/ports.ts';
import { createDrainer, type DrainerOptions } from '../../src/drain/drainer.ts';
import { connect } from '../../src/kube/client.ts';
import { type Cluster, pollUntil, startCluster } from '../../testbed/src/index.ts';

let cluster: Cluster;
let core: CoreV1Api;
let policy: PolicyV1Api;
let apps: AppsV1Api;

before(
  async () => {
    cluster = await startCluster({ nodes: 9, namePrefix: 'drain' });
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    policy = kc.makeApiClient(PolicyV1Api);
    apps = kc.makeApiClient(AppsV1Api);
  },
  { timeout: 15 * 60_000 },
);
after(() => cluster?.stop());

const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
};

interface LogLine {
  msg: string;
  pod?: string;
  pods?: string[];
  [key: string]: unknown;
}

/** A drainer whose log lines the test can read. */
function drainerWithLog(opts: Partial<DrainerOptions> = {}) {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
  );
  const drainer = createDrainer(connect({ KUBECONFIG: cluster.kubeconfigPath }), {
    gracePeriodSeconds: -1,
    podSelector: '',
    skipWaitForDeleteTimeoutSeconds: 0,
    parallelism: 5,
    clock: realClock,
    logger,
    retryDelayMs: 1000,
    ...opts,
  });
  return { drainer, lines };
}

async function freshNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await cluster.createNamespace(name);
  return name;
}

interface PodSpecShape {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  owner?: V1OwnerReference;
  emptyDir?: boolean;
  terminationGracePeriodSeconds?: number;
  finalizers?: string[];
}

async function createPod(
  namespace: string,
  name: string,
  node: string,
  s: PodSpecShape = {},
): Promise<V1Pod> {
  return core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        ...(s.labels ? { labels: s.labels } : {}),
        ...(s.annotations ? { annotations: s.annotations } : {}),
        ...(s.owner ? { ownerReferences: [s.owner] } : {}),
        ...(s.finalizers ? { finalizers: s.finalizers } : {}),
      },
      spec: {
        nodeName: node,
        containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        ...(s.emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
        ...(s.terminationGracePeriodSeconds !== undefined
          ? { terminationGracePeriodSeconds: s.terminationGracePeriodSeconds }
          : {}),
      },
    },
  });
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

async function waitReady(namespace: string, names: string[]): Promise<void> {
  await pollUntil(
    async () => {
      const pods = await core.listNamespacedPod({ namespace });
      return names.every((n) => pods.items.some((p) => p.metadata?.name === n && isReady(p)));
    },
    { timeoutMs: 30_000, describe: () => `pods ${names.join(', ')} in ${namespace} not Ready within 30s` },
  );
}

/** Pod names left on the node in the namespace (deleting ones included). */
async function podsOnNode(namespace: string, node: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace, fieldSelector: `spec.nodeName=${node}` });
  return pods.items.map((p) => p.metadata!.name!).sort();
}

/** A budget, once the disruption controller has computed its status for `healthy` ready pods. */
async function createBudget(
  namespace: string,
  name: string,
  matchLabels: Record<string, string>,
  minAvailable: number,
  healthy: number,
): Promise<void> {
  await policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name }, spec: { minAvailable, selector: { matchLabels } } },
  });
  await pollUntil(
    async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace, name });
      return (
        pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.currentHealthy === healthy
      );
    },
    { timeoutMs: 30_000, describe: () => `PDB ${namespace}/${name} status not computed within 30s` },
  );
}

function assertFailed(result: DrainResult): asserts result is Extract<DrainResult, { ok: false }> {
  assert.equal(result.ok, false, `expected the drain to fail, got ${JSON.stringify(result)}`);
}

test('evicts bare and emptyDir pods, skips DaemonSet and mirror pods', { timeout: 120_000 }, async () => {
  const node = 'drain-1';
  const ns = await freshNamespace('drain-filter');
  // A real DaemonSet: the controller creates its pod on the node (pinned there by a node selector).
  await apps.createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': node },
            containers: [{ name: 'agent', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    },
  });
  const agent = await pollUntil(
    async () => (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=agent' })).items[0],
    { timeoutMs: 30_000, describe: () => 'the DaemonSet controller created no pod' },
  );
  const agentPod = agent.metadata!.name!;
  await createPod(ns, 'static-web', node, { annotations: { 'kubernetes.io/config.mirror': 'hash' } });
  await createPod(ns, 'bare', node);
  await createPod(ns, 'scratch', node, { emptyDir: true });
  await waitReady(ns, [agentPod, 'static-web', 'bare', 'scratch']);

  const { drainer, lines } = drainerWithLog();
  const result = await drainer.drain(node, { deadline: new Date(Date.now() + 60_000) });

  assert.deepEqual(result, { ok: true, evicted: 2 });
  assert.deepEqual(await podsOnNode(ns, node), [agentPod, 'static-web'].sort());
  const warned = (msg: string) => lines.find((l) => l.msg === msg)?.pods ?? [];
  assert.deepEqual(warned('deleting Pods with local storage'), [`${ns}/scratch`]);
  assert.deepEqual(warned('deleting Pods that declare no controller').sort(), [
    `${ns}/bare`,
    `${ns}/scratch`,
  ]);
  assert.deepEqual(warned('ignoring DaemonSet-managed Pods'), [`${ns}/${agentPod}`]);
});

test('--drain-pod-selector limits what is drained', { timeout: 120_000 }, async () => {
  const node = 'drain-2';
  const ns = await freshNamespace('drain-selector');
  await createPod(ns, 'batch', node, { labels: { tier: 'batch' } });
  await createPod(ns, 'db', node, { labels: { tier: 'db' } });
  await waitReady(ns, ['batch', 'db']);

  const { drainer } = drainerWithLog({ podSelector: 'tier=batch' });
  const result = await drainer.drain(node, { deadline: new Date(Date.now() + 60_000) });

  assert.deepEqual(result, { ok: true, evicted: 1 });
  assert.deepEqual(await podsOnNode(ns, node), ['db']);
});

test('a budget that allows no disruption blocks until the deadline, named in the reason, without a busy loop', {
  timeout: 120_000,
}, async () => {
  const node = 'drain-3';
  const ns = await freshNamespace('drain-pdb-block');
  await createPod(ns, 'web-1', node, { labels: { app: 'web' } });
  await createPod(ns, 'web-2', node, { labels: { app: 'web' } });
  await createPod(ns, 'free', node);
  await waitReady(ns, ['web-1', 'web-2', 'free']);
  await createBudget(ns, 'web', { app: 'web' }, 2, 2);

  const { drainer, lines } = drainerWithLog({ retryDelayMs: 1000 });
  const started = Date.now();
  const timeoutMs = 6000;
  const result = await drainer.drain(node, { deadline: new Date(started + timeoutMs) });
  const tookMs = Date.now() - started;

  assertFailed(result);
  assert.equal(result.permanent, false);
  assert.deepEqual([...result.blockingPods].sort(), [`${ns}/web-1`, `${ns}/web-2`]);
  assert.match(result.reason, /^2 pods not evicted before the drain timeout: /);
  const cause = `PodDisruptionBudget ${ns}/web allows no disruption: needs 2 healthy pods and has 2`;
  assert.ok(result.reason.includes(`${ns}/web-1 (${cause})`), result.reason);
  assert.ok(result.reason.includes(`${ns}/web-2 (${cause})`), result.reason);
  assert.ok(
    tookMs < timeoutMs + 3000,
    `drain returned ${tookMs} ms after start, deadline was ${timeoutMs} ms`,
  );
  assert.deepEqual(await podsOnNode(ns, node), ['web-1', 'web-2']);
  // Retries are paced by the base delay (±20% jitter): at most one attempt per 0.8 s, plus the first.
  for (const pod of [`${ns}/web-1`, `${ns}/web-2`]) {
    const attempts = lines.filter((l) => l.pod === pod && l.msg.startsWith('evicting pod')).length;
    assert.ok(attempts >= 3 && attempts <= timeoutMs / 800 + 1, `${pod}: ${attempts} eviction attempts`);
  }

  // Without a deadline, the caller's abort ends the drain promptly.
  const stop = new AbortController();
  const abortAt = Date.now() + 1500;
  setTimeout(() => stop.abort(), 1500);
  const aborted = await drainerWithLog({ retryDelayMs: 1000 }).drainer.drain(node, { signal: stop.signal });
  assertFailed(aborted);
  assert.match(aborted.reason, /^2 pods not evicted before the drain was stopped: /);
  assert.ok(Date.now() - abortAt < 1000, `drain returned ${Date.now() - abortAt} ms after the abort`);
});

test('a budget that allows one disruption at a time lets the drain finish', {
  timeout: 180_000,
}, async () => {
  const node = 'drain-4';
  const spare = 'drain-5';
  const ns = await freshNamespace('drain-pdb-roll');
  for (const name of ['web-1', 'web-2', 'web-3']) await createPod(ns, name, node, { labels: { app: 'web' } });
  await waitReady(ns, ['web-1', 'web-2', 'web-3']);
  await createBudget(ns, 'web', { app: 'web' }, 2, 3);

  // The testbed runs no ReplicaSet controller and no scheduler: play both, replacing every
  // evicted pod on the spare node, so the budget frees up again as a real cluster would.
  const stop = new AbortController();
  const replicator = (async () => {
    let made = 0;
    while (!stop.signal.aborted) {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp).length;
      for (let i = live; i < 3; i++) await createPod(ns, `web-r${++made}`, spare, { labels: { app: 'web' } });
      await delay(200);
    }
  })();

  try {
    const { drainer, lines } = drainerWithLog({ retryDelayMs: 500 });
    const result = await drainer.drain(node, { deadline: new Date(Date.now() + 90_000) });
    assert.deepEqual(result, { ok: true, evicted: 3 });
    assert.deepEqual(await podsOnNode(ns, node), []);
    assert.ok(
      lines.some((l) => l.msg === 'eviction refused, retrying' && String(l.cause).includes(`${ns}/web`)),
      'expected the budget to refuse some evictions while the replacements became Ready',
    );
  } finally {
    stop.abort();
    await replicator;
  }
});

test('a pod under two budgets is a permanent failure; the other pods are still evicted', {
  timeout: 120_000,
}, async () => {
  const node = 'drain-6';
  const ns = await freshNamespace('drain-two-pdbs');
  await createPod(ns, 'dual', node, { labels: { app: 'dual' } });
  await createPod(ns, 'free', node);
  await waitReady(ns, ['dual', 'free']);
  await createBudget(ns, 'one', { app: 'dual' }, 0, 1);
  await createBudget(ns, 'two', { app: 'dual' }, 0, 1);

  const { drainer } = drainerWithLog();
  // No deadline: a permanent cause must end the drain by itself.
  const result = await drainer.drain(node, {});

  assertFailed(result);
  assert.equal(result.permanent, true);
  assert.deepEqual(result.blockingPods, [`${ns}/dual`]);
  assert.equal(
    result.reason,
    `1 pod cannot be evicted: ${ns}/dual (more than one PodDisruptionBudget selects it, and the Eviction API accepts at most one)`,
  );
  assert.deepEqual(await podsOnNode(ns, node), ['dual']);
});

test('the eviction carries --drain-grace-period, else the pod keeps its own', {
  timeout: 120_000,
}, async () => {
  const node = 'drain-7';
  const ns = await freshNamespace('drain-grace');
  // Every grace period the API server recorded on each pod, in order, as a watch saw them.
  const seen = new Map<string, number[]>();
  const watch = await new Watch(cluster.kubeConfig()).watch(
    `/api/v1/namespaces/${ns}/pods`,
    {},
    (_type: string, pod: V1Pod) => {
      const grace = pod.metadata?.deletionGracePeriodSeconds;
      if (grace === undefined || grace === null) return;
      const name = pod.metadata!.name!;
      seen.set(name, [...(seen.get(name) ?? []), grace]);
    },
    () => undefined,
  );
  try {
    await createPod(ns, 'short', node, { labels: { step: 'one' }, terminationGracePeriodSeconds: 300 });
    await createPod(ns, 'own', node, { labels: { step: 'two' }, terminationGracePeriodSeconds: 300 });
    await waitReady(ns, ['short', 'own']);

    const deadline = () => ({ deadline: new Date(Date.now() + 60_000) });
    const withGrace = drainerWithLog({ gracePeriodSeconds: 7, podSelector: 'step=one' }).drainer;
    assert.deepEqual(await withGrace.drain(node, deadline()), { ok: true, evicted: 1 });
    const podsOwn = drainerWithLog({ gracePeriodSeconds: -1, podSelector: 'step=two' }).drainer;
    assert.deepEqual(await podsOwn.drain(node, deadline()), { ok: true, evicted: 1 });

    await pollUntil(() => seen.has('short') && seen.has('own'), {
      timeoutMs: 10_000,
      describe: () => `watch saw no deletion of both pods: ${JSON.stringify([...seen])}`,
    });
    assert.equal(seen.get('short')?.[0], 7);
    assert.equal(seen.get('own')?.[0], 300);
  } finally {
    watch.abort();
  }
});

test('--skip-wait-for-delete-timeout: a pod stuck terminating stops holding the drain', {
  timeout: 120_000,
}, async () => {
  const node = 'drain-8';
  const ns = await freshNamespace('drain-skip-wait');
  // A finalizer nobody removes keeps the evicted pod terminating (kwok deletes, the finalizer holds).
  const hold = 'kured-ts.test/hold';
  await createPod(ns, 'stuck-1', node, { labels: { step: 'one' }, finalizers: [hold] });
  await createPod(ns, 'stuck-2', node, { labels: { step: 'two' }, finalizers: [hold] });
  await waitReady(ns, ['stuck-1', 'stuck-2']);

  try {
    const waits = drainerWithLog({ podSelector: 'step=one', skipWaitForDeleteTimeoutSeconds: 0 }).drainer;
    const timedOut = await waits.drain(node, { deadline: new Date(Date.now() + 4000) });
    assertFailed(timedOut);
    assert.equal(
      timedOut.reason,
      `1 pod not evicted before the drain timeout: ${ns}/stuck-1 (evicted but still terminating)`,
    );

    const skips = drainerWithLog({ podSelector: 'step=two', skipWaitForDeleteTimeoutSeconds: 2 }).drainer;
    const started = Date.now();
    const result = await skips.drain(node, { deadline: new Date(started + 30_000) });
    assert.deepEqual(result, { ok: true, evicted: 1 });
    assert.ok(Date.now() - started < 10_000, 'the drain should stop waiting about 2 s after the deletion');
  } finally {
    for (const name of ['stuck-1', 'stuck-2']) {
      await core
        .patchNamespacedPod(
          { namespace: ns, name, body: [{ op: 'remove', path: '/metadata/finalizers' }] },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
        )
        .catch(() => undefined);
    }
  }
});

test('a pod deleted with its terminating namespace is waited for, not retried', {
  timeout: 120_000,
}, async () => {
  const node = 'drain-9';
  const ns = await freshNamespace('drain-ns-gone');
  const hold = 'kured-ts.test/hold';
  await createPod(ns, 'last', node, { finalizers: [hold] });
  await waitReady(ns, ['last']);
  await core.deleteNamespace({ name: ns });
  await pollUntil(
    async () => (await core.readNamespacedPod({ namespace: ns, name: 'last' })).metadata?.deletionTimestamp,
    {
      timeoutMs: 30_000,
      describe: () => `the namespace controller did not delete ${ns}/last within 30s`,
    },
  );

  const { drainer, lines } = drainerWithLog();
  const drained = drainer.drain(node, { deadline: new Date(Date.now() + 60_000) });
  // The eviction is refused (403 NamespaceTerminating); the pod goes once its finalizer is removed.
  await pollUntil(() => lines.some((l) => l.msg === 'pod is being deleted with its namespace, waiting'), {
    timeoutMs: 10_000,
    describe: () => `the drainer did not wait for the terminating pod: ${JSON.stringify(lines)}`,
  });
  await core.patchNamespacedPod(
    { namespace: ns, name: 'last', body: [{ op: 'remove', path: '/metadata/finalizers' }] },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  assert.deepEqual(await drained, { ok: true, evicted: 1 });
  assert.equal(lines.filter((l) => l.msg.startsWith('evicting pod')).length, 1);
});
