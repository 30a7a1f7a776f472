/**
 * A real node beside the simulated ones: a qemu VM (TCG) running Debian, systemd, containerd and a
 * kubelet built from the control plane's Kubernetes version (testbed/src/realnode). kured-ts is
 * installed as a user does, with helm and the chart's defaults and the image `make image` built,
 * preloaded into the guest's containerd (nothing is pulled from a registry). Its DaemonSet pod on
 * the real node cordons, drains a Deployment under a PodDisruptionBudget (the kubelet runs the
 * pods' preStop hooks), and reboots the VM for real with `systemctl reboot` through nsenter; the
 * kernel boots again, the kubelet reports a new boot ID, restarts the agent's pod, and the agent
 * uncordons and releases the lock. Simulated nodes wait their turn in the same lock.
 *
 * Slow by nature (guest code runs ~25x slower under TCG): figures in testbed/README.md.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { PolicyV1Api, type V1Pod } from '@kubernetes/client-node';
import { helmBinary } from '../../scripts/render-manifests.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { REAL_NODE_LABEL, type RealNode, startRealNode } from '../../testbed/src/realnode/node.ts';
import { BUSYBOX_IMAGE } from '../../testbed/src/realnode/recipe.ts';
import { CHART_DIR, find, helm, type Obj, parseObjects } from '../unit/deploy/render.ts';
import { chartArgs, fleetFromChart, settled } from './helm-support.ts';
import { CYCLE, clients, lockValue, nodeState, waitFor } from './support/scenario.ts';

const IMAGE_DIR = path.join(import.meta.dirname, '../../dist/image');
const REAL = 'real-1';
const MIN = 60_000;

let cluster: Cluster;
let real: RealNode;
/** Where the chart's lock lives (set by the chart test, used by the later ones). */
let lockAt = { dsName: '', dsNamespace: '' };
let installed: Promise<{ objs: Obj[]; args: string[]; dsName: string; dsNamespace: string }> | undefined;
let reference: string;

before(
  async () => {
    const archive = path.join(IMAGE_DIR, 'kured-ts-amd64.tar');
    if (!fs.existsSync(archive)) throw new Error(`${archive} is missing: run make image (make test does)`);
    reference = JSON.parse(fs.readFileSync(path.join(IMAGE_DIR, 'image.json'), 'utf8')).reference;
    cluster = await startCluster({ nodes: 3, rebootDelayMs: 1500 });
    real = await startRealNode(cluster, {
      name: REAL,
      zone: 'zone-c',
      images: [archive],
      readyTimeoutMs: 15 * MIN,
    });
  },
  { timeout: 20 * MIN },
);
after(async () => {
  await real?.stop();
  await cluster?.stop();
});

it('joins a real kubelet that registers the node, turns Ready and runs real containers', {
  timeout: 10 * MIN,
}, async () => {
  const { core } = clients(cluster);
  const node = await core.readNode({ name: REAL });
  assert.equal(node.metadata?.labels?.['topology.kubernetes.io/zone'], 'zone-c');
  assert.equal(node.status?.nodeInfo?.bootID, await real.bootId());
  assert.match(node.status?.nodeInfo?.kubeletVersion ?? '', /^v1\.36\./);
  assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? '', /^containerd:\/\//);

  await cluster.createNamespace('hello');
  await core.createNamespacedPod({
    namespace: 'hello',
    body: {
      metadata: { name: 'hello' },
      spec: {
        nodeName: REAL,
        terminationGracePeriodSeconds: 0,
        containers: [
          {
            name: 'hello',
            image: BUSYBOX_IMAGE,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', 'echo "hello from $HOSTNAME" > /host/hello; exec sleep 3600'],
            volumeMounts: [{ name: 'host', mountPath: '/host' }],
          },
        ],
        volumes: [{ name: 'host', hostPath: { path: '/var/lib/testbed-e2e', type: 'DirectoryOrCreate' } }],
      },
    },
  });
  await waitFor(
    'the pod Running on the real node',
    async () => {
      const pod = await core.readNamespacedPod({ name: 'hello', namespace: 'hello' });
      return pod.status?.phase === 'Running';
    },
    5 * MIN,
  );
  // Written by the container's process, read on the guest's own disk.
  assert.equal((await real.sh('cat /var/lib/testbed-e2e/hello')).trim(), 'hello from hello');
  await core.deleteNamespace({ name: 'hello' });
});

const WORKLOAD = 'e2e.kured-ts.dev/workload';

/** Two replicas on the real node under a budget of one; each pod's preStop hook takes 8 s and logs on the host. */
async function createWorkload(): Promise<void> {
  const { apps } = clients(cluster);
  const policy = cluster.kubeConfig().makeApiClient(PolicyV1Api);
  await cluster.createNamespace('shop');
  await labelNode(REAL, 'yes');
  const labels = { app: 'web' };
  await apps.createNamespacedDeployment({
    namespace: 'shop',
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: WORKLOAD, operator: 'In', values: ['yes'] }] },
                  ],
                },
              },
            },
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'web',
                image: BUSYBOX_IMAGE,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
                lifecycle: {
                  preStop: {
                    exec: {
                      command: [
                        'sh',
                        '-c',
                        'echo "start $(date +%s) $HOSTNAME" >> /log/prestop; sleep 8; echo "end $(date +%s) $HOSTNAME" >> /log/prestop',
                      ],
                    },
                  },
                },
                volumeMounts: [{ name: 'log', mountPath: '/log' }],
              },
            ],
            volumes: [{ name: 'log', hostPath: { path: '/var/lib/testbed-e2e', type: 'DirectoryOrCreate' } }],
          },
        },
      },
    },
  });
  await policy.createNamespacedPodDisruptionBudget({
    namespace: 'shop',
    body: { metadata: { name: 'web' }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
  });
}

async function labelNode(node: string, value: string): Promise<void> {
  const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  await clients(cluster).core.patchNode(
    { name: node, body: { metadata: { labels: { [WORKLOAD]: value } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function podsOn(namespace: string, node: string): Promise<V1Pod[]> {
  const list = await clients(cluster).core.listNamespacedPod({
    namespace,
    fieldSelector: `spec.nodeName=${node}`,
  });
  return list.items;
}

const isReadyPod = (p: V1Pod) =>
  !p.metadata?.deletionTimestamp &&
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/**
 * The chart installed with helm as a user would, its defaults but the image (the one `make image`
 * built, already in the guest: pullPolicy Never proves nothing is pulled) and a 10 s period. Once.
 */
function installChart() {
  installed ??= (async () => {
    const bin = await helmBinary();
    const colon = reference.lastIndexOf(':');
    const kube = ['--namespace', 'kured-ts', '--kubeconfig', cluster.kubeconfigPath];
    const values = [
      `image.repository=${reference.slice(0, colon)}`,
      `image.tag=${reference.slice(colon + 1)}`,
      'image.pullPolicy=Never',
      'configuration.period=10s',
    ].flatMap((v) => ['--set', v]);
    const install = helm(bin, ['install', 'kured-ts', CHART_DIR, '--create-namespace', ...kube, ...values]);
    assert.equal(install.status, 0, install.stderr);
    const objs = parseObjects(helm(bin, ['get', 'manifest', 'kured-ts', ...kube]).stdout);
    const args = chartArgs(objs);
    const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? '';
    lockAt = { dsName: flag('ds-name'), dsNamespace: flag('ds-namespace') };
    return { objs, args, ...lockAt };
  })();
  return installed;
}

it('reboots the real node for real under the chart, drains honouring the budget and preStop hooks, simulated nodes in turn', {
  timeout: 40 * MIN,
}, async () => {
  const { objs, args, dsName, dsNamespace } = await installChart();
  assert.ok(args.includes('--reboot-command=/bin/systemctl reboot'), args.join(' '));

  // The chart's own DaemonSet pod runs the agent on the real node.
  const agent = await waitFor(
    'the agent pod Ready on the real node',
    async () => (await podsOn('kured-ts', REAL)).find(isReadyPod),
    10 * MIN,
  );
  await createWorkload();
  const before = await waitFor(
    'both workload pods Ready on the real node',
    async () => {
      const ready = (await podsOn('shop', REAL)).filter(isReadyPod);
      return ready.length === 2 && ready;
    },
    5 * MIN,
  );
  // From now on the evicted replicas may start on node-2 (kwok), so the budget lets the drain go on.
  await labelNode('node-2', 'yes');

  // The simulated nodes' agents: processes with the chart's args, in the same lock.
  const sa = find(objs, 'ServiceAccount').metadata.name;
  const token = await cluster.serviceAccountToken('kured-ts', sa);
  const fleet = fleetFromChart(cluster, objs, cluster.kubeconfigForToken(token, 'kured-ts-sa'));

  // Invariant across the mixed fleet: never two nodes cordoned at once.
  const cordonedAt = new Map<string, number>();
  const uncordonedAt = new Map<string, number>();
  let overlap = '';
  let watching = true;
  const all = [REAL, ...cluster.nodes];
  const watcher = (async () => {
    while (watching) {
      try {
        const states = await Promise.all(all.map(async (n) => [n, await nodeState(cluster, n)] as const));
        const cordoned = states.filter(([, s]) => s.unschedulable).map(([n]) => n);
        if (cordoned.length > 1) overlap ||= `${cordoned.join(' and ')} cordoned together`;
        for (const [n, s] of states) {
          if (s.unschedulable && !cordonedAt.has(n)) cordonedAt.set(n, Date.now());
          if (!s.unschedulable && cordonedAt.has(n) && !uncordonedAt.has(n)) uncordonedAt.set(n, Date.now());
        }
      } catch {
        // The API server stays up; a single failed read is retried.
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();

  const bootBefore = await real.bootId();
  try {
    fleet.startAll();
    await real.requireReboot();
    await waitFor('the real node cordoned by its agent', async () => cordonedAt.has(REAL), 5 * MIN);
    cluster.requireReboot('node-1');
    cluster.requireReboot('node-3');

    const bootAfter = await real.waitRebooted(bootBefore, 15 * MIN);
    await realBack(bootAfter);
    await settled(cluster, 'node-1', 1, 10 * MIN);
    await settled(cluster, 'node-3', 1, 10 * MIN);
    await waitFor(
      'the lock released',
      async () => (await lockValue(cluster, dsName, dsNamespace)) === undefined,
    );

    // The guest booted exactly twice: the first boot and the one reboot.
    const boots = (await real.sh('cat /var/lib/testbed/boots')).trim().split('\n');
    assert.deepEqual(boots, [bootBefore, bootAfter]);
    const seen = [...new Set(cluster.nodeHistory(REAL).map((o) => o.bootId))];
    assert.deepEqual(seen, [bootBefore, bootAfter], 'boot IDs the API server showed for the real node');

    // The drain ran both pods' preStop hooks to the end, before the VM went down.
    const bootedAt = Number((await real.sh('echo $(( $(date +%s) - $(cut -d. -f1 /proc/uptime) ))')).trim());
    const log = (await real.sh('cat /var/lib/testbed-e2e/prestop')).trim().split('\n');
    for (const pod of before.map((p) => p.metadata?.name)) {
      const at = (what: string) =>
        Number(log.find((l) => l.startsWith(what) && l.endsWith(` ${pod}`))?.split(' ')[1]);
      assert.ok(at('end') - at('start') >= 8, `${pod}'s preStop hook ran 8 s: ${log.join(' | ')}`);
      assert.ok(at('end') <= bootedAt, `${pod}'s preStop hook ended before the reboot: ${log.join(' | ')}`);
    }

    // The kubelet restarted the agent's own pod after the reboot (same pod, its container again).
    const after = (await podsOn('kured-ts', REAL)).find((p) => p.metadata?.uid === agent.metadata?.uid);
    assert.ok(after, 'the agent pod is still the same pod');
    assert.ok((after.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'its container restarted');
    assert.ok(isReadyPod(after), 'and is Ready');

    await waitFor('the workload back at 2 available replicas', async () => {
      const d = await clients(cluster).apps.readNamespacedDeployment({ name: 'web', namespace: 'shop' });
      return d.status?.availableReplicas === 2;
    });
  } finally {
    watching = false;
    await watcher;
    await fleet.stopAll();
  }
  assert.equal(overlap, '');
  for (const n of ['node-1', 'node-3']) {
    assert.equal(cluster.rebootCount(n), 1, `${n} rebooted once`);
    // Its reboot (NotReady, as the API server showed it) came after the real node's uncordon.
    const down =
      cluster
        .nodeHistory(n)
        .find((o) => !o.ready)
        ?.at.getTime() ?? 0;
    assert.ok(down > (uncordonedAt.get(REAL) ?? Infinity), `${n} waited for the real node`);
  }
  assert.equal(cluster.rebootCount('node-2'), 0);
  assert.equal(await lockValue(cluster, dsName, dsNamespace), undefined);
});

const KUBE = () => ['--namespace', 'kured-ts', '--kubeconfig', cluster.kubeconfigPath];

/** How many times the guest has booted since the VM started (its own record, kept across reboots). */
async function bootCount(): Promise<number> {
  return (await real.sh('cat /var/lib/testbed/boots')).trim().split('\n').length;
}

/**
 * The real node back: Ready with `bootAfter`, uncordoned, its cycle over. A node that is not fails
 * with what it shows (its conditions and annotations, the agent's pod and both its containers'
 * last lines, the guest's kubelet): a CI run keeps nothing else to read.
 */
async function realBack(bootAfter: string): Promise<void> {
  try {
    await waitFor(
      'the real node Ready with its new boot ID, uncordoned, its cycle over',
      async () => {
        const node = await clients(cluster).core.readNode({ name: REAL });
        const s = await nodeState(cluster, REAL);
        return (
          node.status?.nodeInfo?.bootID === bootAfter && s.ready && !s.unschedulable && !s.annotations[CYCLE]
        );
      },
      15 * MIN,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await whatTheRealNodeShows(bootAfter)}`);
  }
}

async function whatTheRealNodeShows(bootAfter: string): Promise<string> {
  const { core } = clients(cluster);
  const lines: string[] = [];
  const tryTo = async (what: string, read: () => Promise<string>) => {
    try {
      lines.push(`${what}: ${await read()}`);
    } catch (err) {
      lines.push(`${what}: not read (${(err as Error).message})`);
    }
  };
  await tryTo('node', async () => {
    const node = await core.readNode({ name: REAL });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    const ours = Object.entries(node.metadata?.annotations ?? {}).filter(([k]) => /kured/.test(k));
    return [
      `bootID ${node.status?.nodeInfo?.bootID} (the guest's ${bootAfter})`,
      `Ready=${ready?.status} ${ready?.reason ?? ''} since ${ready?.lastTransitionTime?.toISOString()}`,
      `unschedulable=${node.spec?.unschedulable ?? false}`,
      ...ours.map(([k, v]) => `${k}=${v}`),
    ].join('; ');
  });
  await tryTo('lock', async () => String(await lockValue(cluster, lockAt.dsName, lockAt.dsNamespace)));
  for (const pod of await podsOn('kured-ts', REAL).catch(() => [])) {
    const name = pod.metadata?.name ?? '';
    await tryTo(`pod ${name}`, async () => JSON.stringify(pod.status?.containerStatuses ?? pod.status));
    // On the guest's disk (the API server cannot reach this kubelet): the kubelet keeps the
    // current container's log and the one before it, across reboots.
    await tryTo(`its containers' last lines`, async () => {
      const logs = `/var/log/pods/kured-ts_${name}_${pod.metadata?.uid}/*/*.log`;
      const out = await real.sh(
        `for f in ${logs}; do echo "== $f"; tail -n 40 "$f" | cut -c1-400; done`,
        30_000,
      );
      return `\n  | ${out.trim().split('\n').join('\n  | ')}`;
    });
  }
  await tryTo('guest clock - host clock, s', async () =>
    String(Number((await real.sh('date +%s', 30_000)).trim()) - Math.round(Date.now() / 1000)),
  );
  await tryTo('guest', async () =>
    (
      await real.sh(
        'echo boots: $(cat /var/lib/testbed/boots); systemctl is-active containerd kubelet | paste -sd " "; journalctl -u kubelet -n 15 --no-pager -o cat',
        30_000,
      )
    )
      .trim()
      .replaceAll('\n', '\n  | '),
  );
  return lines.join('\n');
}

/** The real node back (`realBack`) and the lock released. */
async function realSettled(bootAfter: string): Promise<void> {
  await realBack(bootAfter);
  await waitFor(
    'the lock released',
    async () => (await lockValue(cluster, lockAt.dsName, lockAt.dsNamespace)) === undefined,
  );
}

async function agentPod(what: string, ok: (p: V1Pod) => boolean = () => true): Promise<V1Pod> {
  return waitFor(
    what,
    async () => (await podsOn('kured-ts', REAL)).find((p) => isReadyPod(p) && ok(p)),
    10 * MIN,
  );
}

async function patchAgentDaemonSet(body: object): Promise<void> {
  const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  await clients(cluster).apps.patchNamespacedDaemonSet(
    { name: lockAt.dsName, namespace: lockAt.dsNamespace, body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

it("--reboot-method=signal: SIGRTMIN+5 to the host's systemd reboots the real node", {
  timeout: 30 * MIN,
}, async () => {
  await installChart();
  const upgrade = helm(await helmBinary(), [
    'upgrade',
    'kured-ts',
    CHART_DIR,
    ...KUBE(),
    '--reuse-values',
    '--set',
    'configuration.rebootMethod=signal',
  ]);
  assert.equal(upgrade.status, 0, upgrade.stderr);
  await agentPod('the agent pod with --reboot-method=signal Ready on the real node', (p) =>
    (p.spec?.containers[0]?.args ?? []).includes('--reboot-method=signal'),
  );
  const [bootBefore, boots] = [await real.bootId(), await bootCount()];
  await real.requireReboot();
  const bootAfter = await real.waitRebooted(bootBefore, 15 * MIN);
  await realSettled(bootAfter);
  assert.equal(await bootCount(), boots + 1, 'the guest booted once more');
  await agentPod('the agent pod Ready again after the reboot');
});

it('a sentinel written while the agent pod is not running: the node reboots once the pod is back', {
  timeout: 30 * MIN,
}, async () => {
  await installChart();
  // The agent's pod leaves the real node (as in a rollout, or an eviction) ...
  await patchAgentDaemonSet({
    spec: {
      template: {
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: REAL_NODE_LABEL, operator: 'DoesNotExist' }] },
                ],
              },
            },
          },
        },
      },
    },
  });
  await waitFor(
    'no agent pod on the real node',
    async () => (await podsOn('kured-ts', REAL)).length === 0,
    10 * MIN,
  );
  const [bootBefore, boots] = [await real.bootId(), await bootCount()];
  // ... the sentinel appears meanwhile, and nothing happens: no agent watches it (three periods).
  await real.requireReboot();
  await new Promise((r) => setTimeout(r, 30_000));
  assert.equal(await real.bootId(), bootBefore);
  assert.equal((await nodeState(cluster, REAL)).unschedulable, false);
  // The pod comes back and finds the sentinel.
  await patchAgentDaemonSet({ spec: { template: { spec: { affinity: null } } } });
  const bootAfter = await real.waitRebooted(bootBefore, 15 * MIN);
  await realSettled(bootAfter);
  assert.equal(await bootCount(), boots + 1, 'the guest booted once more');
});

it("the agent's container killed mid-drain: the kubelet restarts it, the drain finishes, one reboot", {
  timeout: 30 * MIN,
}, async () => {
  await installChart();
  // A pod whose preStop hook takes 40 s: the drain is still waiting for it when the agent dies.
  await cluster.createNamespace('slow');
  const labels = { app: 'slow' };
  await clients(cluster).apps.createNamespacedDeployment({
    namespace: 'slow',
    body: {
      metadata: { name: 'slow' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': REAL },
            terminationGracePeriodSeconds: 90,
            containers: [
              {
                name: 'slow',
                image: BUSYBOX_IMAGE,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
                lifecycle: {
                  preStop: {
                    exec: {
                      command: [
                        'sh',
                        '-c',
                        'echo "start $(date +%s)" >> /log/slow; sleep 40; echo "end $(date +%s)" >> /log/slow',
                      ],
                    },
                  },
                },
                volumeMounts: [{ name: 'log', mountPath: '/log' }],
              },
            ],
            volumes: [{ name: 'log', hostPath: { path: '/var/lib/testbed-e2e', type: 'DirectoryOrCreate' } }],
          },
        },
      },
    },
  });
  await waitFor(
    'the slow pod Ready on the real node',
    async () => (await podsOn('slow', REAL)).some((p) => p.metadata?.labels?.app === 'slow' && isReadyPod(p)),
    5 * MIN,
  );
  const agent = await agentPod('the agent pod Ready on the real node');
  const restarts = agent.status?.containerStatuses?.[0]?.restartCount ?? 0;
  const [bootBefore, boots] = [await real.bootId(), await bootCount()];
  await real.requireReboot();
  await waitFor(
    'the drain evicting the slow pod (its preStop hook running)',
    async () =>
      (await podsOn('slow', REAL)).some(
        (p) => p.metadata?.labels?.app === 'slow' && p.metadata?.deletionTimestamp,
      ),
    10 * MIN,
  );
  // SIGKILL to the agent's process inside the guest: the container dies, the kubelet restarts it.
  const killed = await real.sh(
    "for p in /proc/[0-9]*; do grep -qa 'kured-ts[.]mjs' $p/cmdline 2>/dev/null && basename $p && kill -9 $(basename $p); done; true",
  );
  assert.ok(killed.trim(), 'the agent process was found and killed');
  assert.equal(await real.bootId(), bootBefore, 'not rebooted yet: the drain was still going');
  const bootAfter = await real.waitRebooted(bootBefore, 15 * MIN);
  await realSettled(bootAfter);
  assert.equal(await bootCount(), boots + 1, 'the guest booted once more, not twice');
  const after = await agentPod('the agent pod Ready again after the reboot');
  assert.equal(after.metadata?.uid, agent.metadata?.uid);
  // Once for the kill, once for the reboot.
  assert.ok(
    (after.status?.containerStatuses?.[0]?.restartCount ?? 0) >= restarts + 2,
    'restarted by the kubelet',
  );
  const bootedAt = Number((await real.sh('echo $(( $(date +%s) - $(cut -d. -f1 /proc/uptime) ))')).trim());
  const log = (await real.sh('cat /var/lib/testbed-e2e/slow')).trim().split('\n');
  const end = Number(log.find((l) => l.startsWith('end'))?.split(' ')[1]);
  assert.ok(
    end <= bootedAt,
    `the slow pod's preStop hook ran to its end before the reboot: ${log.join(' | ')}`,
  );
});
