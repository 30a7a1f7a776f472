/**
 * What counts as back, end to end: real agents (the bundle) on the real control plane, with a real
 * DaemonSet whose pods restart with their node (the testbed plays the kubelet: not Ready after the
 * reboot, Ready after the per-pod delay of READY_AFTER_REBOOT, or never). The lock is held until the
 * node's DaemonSet pods are Ready; a node that is not healthy in time halts the rollout, notifies
 * once (a real webhook receiver), and goes on by itself once healthy.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { BUNDLE, Fleet, type FleetOptions } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { READY_AFTER_REBOOT } from '../../testbed/src/pod-restarts.ts';
import { type RunningPrometheus, requirePrometheus, startPrometheus } from './prometheus-server.ts';
import {
  CYCLE,
  clients,
  eventReasons,
  lockValue,
  nodeState,
  resetNodes,
  waitFor,
} from './support/scenario.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

let cluster: Cluster;
let receiver: Server;
let hookUrl = '';
const messages: string[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      messages.push((JSON.parse(body) as { message: string }).message);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `generic+http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  cluster = await startCluster({ nodes: 3, namePrefix: 'healthy', rebootDelayMs: 1000 });
});
after(async () => {
  await cluster?.stop();
  receiver?.close();
});

/** A DaemonSet standing for the node's CNI: one pod per node, Ready `readyAfter` after its node's reboot. */
async function cni(namespace: string, readyAfter: string): Promise<void> {
  const { apps } = clients(cluster);
  await cluster.createNamespace(namespace);
  const labels = { app: 'cni' };
  await apps.createNamespacedDaemonSet({
    namespace,
    body: {
      metadata: { name: 'cni' },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { [READY_AFTER_REBOOT]: readyAfter } },
          spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'cni', image: 'cni:1' }] },
        },
      },
    },
  });
  await waitFor('a Ready cni pod on every node', async () => {
    const pods = await cniPods(namespace);
    return pods.length === cluster.nodes.length && pods.every(ready);
  });
}

async function cniPods(namespace: string): Promise<V1Pod[]> {
  return (await clients(cluster).core.listNamespacedPod({ namespace, labelSelector: 'app=cni' })).items;
}

async function cniPod(namespace: string, node: string): Promise<V1Pod> {
  const pod = (await cniPods(namespace)).find((p) => p.spec?.nodeName === node);
  assert.ok(pod, `no cni pod on ${node}`);
  return pod;
}

function ready(p: V1Pod): boolean {
  return p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/** Changes when one node's cni pod turns Ready after its next reboot (the testbed reads it then). */
async function setReadyAfter(namespace: string, node: string, readyAfter: string): Promise<void> {
  const pod = await cniPod(namespace, node);
  await clients(cluster).core.patchNamespacedPod(
    {
      namespace,
      name: pod.metadata?.name ?? '',
      body: { metadata: { annotations: { [READY_AFTER_REBOOT]: readyAfter } } },
    },
    mergePatch,
  );
}

/** What a kubelet reports once a slow pod is finally Ready. */
async function makeReady(namespace: string, node: string): Promise<void> {
  const pod = await cniPod(namespace, node);
  const now = new Date();
  await clients(cluster).core.patchNamespacedPodStatus(
    {
      namespace,
      name: pod.metadata?.name ?? '',
      body: {
        status: {
          conditions: [
            { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
            { type: 'Ready', status: 'True', lastTransitionTime: now },
          ],
          containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => ({ ...c, ready: true })),
        },
      },
    },
    strategicPatch,
  );
}

/** Runs body with a fresh fleet on its own lock DaemonSet and a fresh cni DaemonSet; always cleans up. */
async function scenario(
  name: string,
  readyAfter: string,
  opts: FleetOptions,
  body: (fleet: Fleet, ns: string) => Promise<void>,
): Promise<void> {
  await resetNodes(cluster);
  messages.length = 0;
  const ns = `cni-${name}`;
  await cni(ns, readyAfter);
  const fleet = new Fleet(cluster, {
    dsName: `kured-${name}`,
    ...opts,
    args: ['--period=1m', `--notify-url=${hookUrl}`, ...(opts.args ?? [])],
  });
  await fleet.createLockDaemonSet();
  try {
    await body(fleet, ns);
  } finally {
    await fleet.stopAll();
    await clients(cluster).core.deleteNamespace({ name: ns });
  }
}

const holder = async (ds: string) => {
  const raw = await lockValue(cluster, ds);
  return raw ? (JSON.parse(raw) as { nodeID: string }).nodeID : undefined;
};

/**
 * Two nodes needing a reboot: whichever takes the lock first never gets its cni pod Ready again,
 * the second's is Ready 1 s after its reboot. Their reboot counts before, by node.
 */
async function firstNeverReady(fleet: Fleet, ns: string, [a, b]: [string, string], ds: string) {
  await setReadyAfter(ns, a, 'never');
  await setReadyAfter(ns, b, 'never');
  const before: Record<string, number> = { [a]: cluster.rebootCount(a), [b]: cluster.rebootCount(b) };
  cluster.requireReboot(a);
  cluster.requireReboot(b);
  fleet.startAll([a, b]);
  const first = await waitFor('a node to take the lock', () => holder(ds));
  const second = first === a ? b : a;
  await setReadyAfter(ns, second, '1s');
  return { first, second, before };
}

async function phaseOf(node: string): Promise<{ phase?: string; halted?: string } | undefined> {
  const raw = (await nodeState(cluster, node)).annotations[CYCLE];
  return raw ? (JSON.parse(raw) as { phase?: string; halted?: string }) : undefined;
}

test('the lock is held while the DaemonSet pod is not Ready, and released once it is, 5 s after the node is back', async () => {
  const node = cluster.nodes[0]!;
  // The test plays the slow pod's kubelet itself, so that "5 s after" holds however loaded the machine is.
  await scenario('slow', 'never', {}, async (fleet, ns) => {
    const reboots = cluster.rebootCount(node);
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor(
      'the node back and its agent waiting for it to be healthy',
      async () => {
        const s = await nodeState(cluster, node);
        return (
          cluster.rebootCount(node) === reboots + 1 &&
          !s.unschedulable &&
          (await phaseOf(node))?.phase === 'settling'
        );
      },
      90_000,
    );
    // Back and uncordoned at once, but for 5 s, with the cni pod not Ready, the lock stays.
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      assert.equal(await holder('kured-slow'), node, 'released while the cni pod was not Ready');
      await delay(250);
    }
    assert.equal(ready(await cniPod(ns, node)), false);
    const readyAt = Date.now();
    await makeReady(ns, node);
    await waitFor('the lock to be released', async () => (await holder('kured-slow')) === undefined);
    assert.ok(
      Date.now() - readyAt < 20_000,
      'released within seconds of the pod turning Ready (the pod watch)',
    );
    await waitFor('the cycle to end', async () => !(await nodeState(cluster, node)).annotations[CYCLE]);
    const reasons = await eventReasons(cluster, node);
    for (const r of ['Uncordoned', 'WaitingForHealthy', 'Healthy', 'LockReleased'])
      assert.ok(reasons.includes(r), `no ${r} Event: ${reasons.join(', ')}`);
    assert.ok(reasons.indexOf('Uncordoned') < reasons.indexOf('Healthy'), 'uncordoned before healthy');
    assert.ok(
      fleet.messages(node).some((m) => /waiting until healthy: pod cni-slow\/cni-\w+ not Ready/.test(m)),
      'the log says which pod it waits for',
    );
  });
});

test('a pod that never becomes Ready halts the rollout at --post-reboot-timeout: one notification, the next node waits, and it goes on by itself once the pod is Ready', {
  timeout: 240_000,
}, async () => {
  const [a, b] = [cluster.nodes[0]!, cluster.nodes[1]!];
  await scenario('halt', '1s', { args: ['--post-reboot-timeout=6s'] }, async (fleet, ns) => {
    const { first, second, before } = await firstNeverReady(fleet, ns, [a, b], 'kured-halt');

    const halted = await waitFor('the rollout to halt', async () => (await phaseOf(first))?.halted, 90_000);
    const firstPod = (await cniPod(ns, first)).metadata?.name;
    assert.equal(halted, `pod ${ns}/${firstPod} not Ready`);
    assert.equal((await nodeState(cluster, first)).unschedulable, false, 'uncordoned although not healthy');
    assert.equal(await holder('kured-halt'), first, 'the halted node keeps the lock');
    await waitFor('the halted notification', () => messages.some((m) => m.startsWith('Rollout halted')));
    assert.ok((await eventReasons(cluster, first)).includes('RolloutHalted'));

    const status = execFileSync(process.execPath, [BUNDLE, 'status', '--ds-name=kured-halt'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
      encoding: 'utf8',
    });
    assert.match(
      status,
      new RegExp(`rollout halted: ${first} did not come back healthy: pod ${ns}/${firstPod} not Ready`),
    );

    // Halted: for a while, the second node does not start, and nothing is sent again.
    await delay(8_000);
    assert.equal(cluster.rebootCount(second), before[second]!, 'the next node went down');
    assert.equal(await holder('kured-halt'), first);
    assert.deepEqual(
      messages.filter((m) => m.startsWith('Rollout halted')),
      [`Rollout halted: node ${first} did not come back healthy: pod ${ns}/${firstPod} not Ready`],
    );

    // The pod is Ready at last: the halted node releases by itself, and the rollout goes on.
    await makeReady(ns, first);
    await waitFor(
      'the second node to reboot and the lock to be free',
      async () =>
        cluster.rebootCount(second) === before[second]! + 1 &&
        (await holder('kured-halt')) === undefined &&
        !(await nodeState(cluster, second)).annotations[CYCLE],
      90_000,
    );
    assert.ok((await eventReasons(cluster, first)).includes('Healthy'));
    assert.equal(messages.filter((m) => m.startsWith('Rollout halted')).length, 1);
  });
});

test("kured-ts resume releases a halted node through the agents' release: the next node goes, the halted one forgets its cycle", {
  timeout: 240_000,
}, async () => {
  const [a, b] = [cluster.nodes[0]!, cluster.nodes[2]!];
  await scenario('resume', '1s', { args: ['--post-reboot-timeout=6s'] }, async (fleet, ns) => {
    const { first, second, before } = await firstNeverReady(fleet, ns, [a, b], 'kured-resume');
    await waitFor('the rollout to halt', async () => (await phaseOf(first))?.halted, 90_000);
    assert.equal(await holder('kured-resume'), first, 'the halted node keeps the lock');

    const out = execFileSync(process.execPath, [BUNDLE, 'resume', '--ds-name=kured-resume'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
      encoding: 'utf8',
    });
    assert.match(
      out,
      new RegExp(`released the lock of the halted node\\(s\\) ${first}: the rollout goes on`),
    );
    // The halted node's pod is still not Ready: only the operator's release lets the next one go.
    await waitFor(
      'the second node to reboot, the lock free and both cycles over',
      async () =>
        cluster.rebootCount(second) === before[second]! + 1 &&
        (await holder('kured-resume')) === undefined &&
        !(await nodeState(cluster, second)).annotations[CYCLE] &&
        !(await nodeState(cluster, first)).annotations[CYCLE],
      90_000,
    );
    assert.equal(cluster.rebootCount(first), before[first]! + 1, 'the halted node rebooted once');
    const history = (await nodeState(cluster, first)).annotations['kured-ts.dev/reboot-history'];
    assert.ok(history, "the halted node's cycle is in its history");
  });
});

test('--halt-on-failure=false: after --post-reboot-timeout the lock is released anyway and the rollout goes on', {
  timeout: 180_000,
}, async () => {
  const [a, b] = [cluster.nodes[1]!, cluster.nodes[2]!];
  await scenario(
    'nohalt',
    'never',
    { args: ['--post-reboot-timeout=4s', '--halt-on-failure=false'] },
    async (fleet) => {
      const before = [cluster.rebootCount(a), cluster.rebootCount(b)];
      cluster.requireReboot(a);
      cluster.requireReboot(b);
      fleet.startAll([a, b]);
      await waitFor(
        'both nodes rebooted and the lock free',
        async () =>
          cluster.rebootCount(a) === before[0]! + 1 &&
          cluster.rebootCount(b) === before[1]! + 1 &&
          (await holder('kured-nohalt')) === undefined,
        120_000,
      );
      for (const n of [a, b]) assert.ok((await eventReasons(cluster, n)).includes('NotHealthy'), n);
      assert.ok(!messages.some((m) => m.startsWith('Rollout halted')));
    },
  );
});

test('an agent killed while its node waits to be healthy converges: released once healthy, one reboot', {
  timeout: 180_000,
}, async () => {
  const node = cluster.nodes[2]!;
  await scenario('killed', 'never', {}, async (fleet, ns) => {
    const reboots = cluster.rebootCount(node);
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('the healthy wait', async () => (await phaseOf(node))?.phase === 'settling', 90_000);
    await waitFor('the log line and the Event of the wait', async () => {
      const logged = fleet
        .messages(node)
        .some((m) => /waiting until healthy: pod cni-killed\/cni-\w+ not Ready/.test(m));
      return logged && (await eventReasons(cluster, node)).includes('WaitingForHealthy');
    });
    const waits = () => fleet.messages(node).filter((m) => /waiting until healthy/.test(m)).length;
    const waitsBefore = waits();
    await fleet.stop(node, 'SIGKILL');
    fleet.start(node);
    // The restarted agent goes on waiting where the killed one was: the lock stays while the pod is not Ready.
    await waitFor('the restarted agent to wait again', () => waits() > waitsBefore);
    assert.equal(await holder('kured-killed'), node, 'released while the pod was not Ready');
    assert.equal((await phaseOf(node))?.phase, 'settling');
    await makeReady(ns, node);
    await waitFor('the release', async () => (await holder('kured-killed')) === undefined);
    await waitFor('the cycle to end', async () => !(await nodeState(cluster, node)).annotations[CYCLE]);
    assert.equal(cluster.rebootCount(node), reboots + 1);
    assert.equal((await nodeState(cluster, node)).unschedulable, false);
  });
});

test('--post-reboot-check-alerts: an alert firing after the reboot holds the release until it clears (real Prometheus)', {
  timeout: 240_000,
}, async () => {
  requirePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'kured-ts-healthy-prom-'));
  let freeze = 0;
  const exporter = createServer((_req, res) => res.end(`kured_ts_test_storage_degraded ${freeze}\n`));
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
  const exporterPort = (exporter.address() as { port: number }).port;
  let prometheus: RunningPrometheus | undefined;
  try {
    prometheus = await startPrometheus(dir, {
      rules: `groups:\n  - name: storage\n    interval: 1s\n    rules:\n      - alert: StorageDegraded\n        expr: kured_ts_test_storage_degraded > 0\n`,
      extraConfig: `scrape_configs:\n  - job_name: switch\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']\n`,
    });
    const url = prometheus.url;
    const firing = async () => {
      const res = await fetch(`${url}/api/v1/query?query=ALERTS{alertstate="firing"}`);
      const body = (await res.json()) as { data: { result: unknown[] } };
      return body.data.result.length > 0;
    };
    const node = cluster.nodes[0]!;
    await scenario(
      'alerts',
      'never',
      { args: ['--period=5s', `--prometheus-url=${url}`, '--post-reboot-check-alerts'] },
      async (fleet, ns) => {
        cluster.requireReboot(node);
        fleet.start(node);
        // Held first by its cni pod, so that the alert fires after the reboot whatever the timing.
        await waitFor('the healthy wait', async () => (await phaseOf(node))?.phase === 'settling', 90_000);
        // The storage degrades after the reboot (its replicas re-sync), and recovers later.
        freeze = 1;
        await waitFor('the alert to fire', firing, 60_000);
        await makeReady(ns, node);
        await waitFor(
          'the wait on the alert',
          () => fleet.messages(node).some((m) => m.includes('1 active alert in Prometheus: StorageDegraded')),
          60_000,
        );
        await delay(4_000);
        assert.equal(await holder('kured-alerts'), node, 'released while the alert fired');
        assert.equal((await nodeState(cluster, node)).unschedulable, false);
        freeze = 0;
        await waitFor(
          'the release once the alert cleared',
          async () => (await holder('kured-alerts')) === undefined,
          60_000,
        );
      },
    );
  } finally {
    prometheus?.stop();
    exporter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
