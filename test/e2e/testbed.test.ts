import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { httpsGet } from '../../testbed/src/http.ts';
import {
  type Cluster,
  cleanupStaleClusters,
  isApiStatus,
  pollUntil,
  REBOOT_SIGNAL,
  startCluster,
  ZONE_LABEL,
} from '../../testbed/src/index.ts';
import { TEMP_DIR_PREFIX } from '../../testbed/src/paths.ts';
import { processesUsing, writeDirState } from '../../testbed/src/stale.ts';

const execFileAsync = promisify(execFile);
// The first run builds the control plane from source (minutes); later runs start in seconds.
const BOOT_TIMEOUT = 30 * 60_000;
const REBOOT_DELAY_MS = 1000;

function pod(name: string, node: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
  };
}

function isRunningAndReady(p: V1Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false)
  );
}

async function waitPodGone(core: CoreV1Api, namespace: string, name: string): Promise<void> {
  await pollUntil(
    async () => {
      try {
        await core.readNamespacedPod({ name, namespace });
        return false;
      } catch (err) {
        return isApiStatus(err, 404);
      }
    },
    { timeoutMs: 20_000, describe: () => `pod ${namespace}/${name} was not removed` },
  );
}

describe('testbed cluster', () => {
  let cluster: Cluster;
  let core: CoreV1Api;
  const hookCalls: string[] = [];

  before(
    async () => {
      cluster = await startCluster({ nodes: 5, rebootDelayMs: REBOOT_DELAY_MS });
      core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      cluster.setAgentHooks({
        stop: async (node) => {
          hookCalls.push(`stop ${node}`);
        },
        start: async (node) => {
          hookCalls.push(`start ${node}`);
        },
      });
    },
    { timeout: BOOT_TIMEOUT },
  );
  after(() => cluster?.stop());

  test('serves the API over TLS with RBAC: anonymous refused, a ServiceAccount gets only its Role', async () => {
    assert.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    // The serving certificate is not trusted without the testbed CA.
    await assert.rejects(
      new Promise((resolve, reject) => https.get(`${cluster.server}/version`, resolve).on('error', reject)),
      /self-signed|unable to verify|certificate/i,
    );
    const ca = fs.readFileSync(cluster.caFile, 'utf8');
    const anonymous = await httpsGet(`${cluster.server}/api/v1/namespaces/default/pods`, { ca });
    assert.ok([401, 403].includes(anonymous.status), `anonymous request answered ${anonymous.status}`);

    const ns = 'rbac-test';
    await cluster.createNamespace(ns);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'pod-reader' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      },
    });

    const token = await cluster.serviceAccountToken(ns, 'reader', 600);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigForToken(token, 'reader'));
    const asReader = kc.makeApiClient(CoreV1Api);
    // RBAC caches may lag the binding by a moment.
    await pollUntil(() => asReader.listNamespacedPod({ namespace: ns }).then(() => true), {
      timeoutMs: 10_000,
      describe: () => 'the ServiceAccount could not list pods its Role allows',
    });
    await assert.rejects(
      asReader.createNamespacedPod({ namespace: ns, body: pod('nope', 'node-1') }),
      (err) => isApiStatus(err, 403),
    );
    await assert.rejects(asReader.listNamespacedSecret({ namespace: ns }), (err) => isApiStatus(err, 403));
  });

  test('nodes are Ready with os, hostname and zone labels and a boot ID', async () => {
    const nodes = (await core.listNode()).items;
    assert.deepEqual(nodes.map((n) => n.metadata?.name).sort(), [
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
    ]);
    for (const n of nodes) {
      const name = n.metadata?.name ?? '';
      assert.equal(n.metadata?.labels?.['kubernetes.io/os'], 'linux');
      assert.equal(n.metadata?.labels?.['kubernetes.io/hostname'], name);
      assert.match(n.metadata?.labels?.[ZONE_LABEL] ?? '', /^zone-[a-z]$/);
      assert.match(n.status?.nodeInfo?.bootID ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        `${name} Ready`,
      );
      assert.ok(!n.spec?.taints?.length, `${name} has no taints`);
      assert.ok(fs.statSync(cluster.hostDir(name)).isDirectory());
      assert.equal(cluster.sentinelPath(name), path.join(cluster.hostDir(name), 'var/run/reboot-required'));
    }
    assert.ok(new Set(nodes.map((n) => n.metadata?.labels?.[ZONE_LABEL])).size >= 2, 'nodes span zones');
  });

  test('a pod bound to a node reaches Running, and deleting it removes it', async () => {
    const ns = 'pods';
    await cluster.createNamespace(ns);
    await core.createNamespacedPod({ namespace: ns, body: pod('web', 'node-1') });
    await pollUntil(
      async () => isRunningAndReady(await core.readNamespacedPod({ namespace: ns, name: 'web' })),
      {
        timeoutMs: 20_000,
        describe: () => 'pod did not become Running and Ready',
      },
    );
    // Default 30 s grace: only a kubelet (kwok here) finalizes the delete.
    await core.deleteNamespacedPod({ namespace: ns, name: 'web' });
    await waitPodGone(core, ns, 'web');
  });

  test('a PodDisruptionBudget allowing no disruption makes eviction answer 429, then allows it', async () => {
    const ns = 'pdb';
    await cluster.createNamespace(ns);
    for (const [name, node] of [
      ['web-0', 'node-2'],
      ['web-1', 'node-3'],
    ] as const) {
      await core.createNamespacedPod({ namespace: ns, body: pod(name, node, { app: 'web' }) });
    }
    const policy = cluster.kubeConfig().makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
      },
    });
    const pdbSettled = (allowed: number) =>
      pollUntil(
        async () => {
          const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: 'web' });
          return (
            pdb.status?.observedGeneration === pdb.metadata?.generation &&
            pdb.status?.currentHealthy === 2 &&
            pdb.status?.disruptionsAllowed === allowed
          );
        },
        { timeoutMs: 30_000, describe: () => `PDB status never showed disruptionsAllowed=${allowed}` },
      );
    await pdbSettled(0);

    const evict = () =>
      core.createNamespacedPodEviction({
        namespace: ns,
        name: 'web-0',
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-0', namespace: ns } },
      });
    await assert.rejects(evict(), (err) => err instanceof ApiException && err.code === 429);

    await policy.patchNamespacedPodDisruptionBudget(
      { namespace: ns, name: 'web', body: { spec: { minAvailable: 1 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await pdbSettled(1);
    await evict();
    await waitPodGone(core, ns, 'web-0');
  });

  /** Waits until the node finished a reboot from `bootBefore`: Ready again under a new boot ID. */
  async function waitRebooted(node: string, bootBefore: string, count: number): Promise<void> {
    await pollUntil(
      () => {
        const last = cluster.nodeHistory(node).at(-1);
        return cluster.rebootCount(node) === count && last?.ready === true && last.bootId !== bootBefore;
      },
      {
        timeoutMs: 20_000,
        describe: () => `${node} did not reboot: ${JSON.stringify(cluster.nodeHistory(node))}`,
      },
    );
    await pollUntil(() => hookCalls.includes(`start ${node}`), {
      timeoutMs: 5000,
      describe: () => `agent of ${node} not restarted`,
    });
  }

  test('rebooting a node changes its boot ID, passes through NotReady, comes back Ready and restarts its agent', async () => {
    const node = 'node-1';
    cluster.requireReboot(node);
    assert.ok(fs.existsSync(cluster.sentinelPath(node)));
    const bootBefore = await cluster.bootId(node);
    const historyBefore = cluster.nodeHistory(node).length;

    const rebootStarted = Date.now();
    await cluster.reboot(node);

    const bootAfter = await cluster.bootId(node);
    const ready = (await core.readNode({ name: node })).status?.conditions?.find((c) => c.type === 'Ready');
    // API times have whole seconds.
    assert.ok(
      new Date(ready?.lastTransitionTime ?? 0).getTime() >= rebootStarted - 1000,
      `Ready since the reboot, not since creation: ${ready?.lastTransitionTime?.toString()}`,
    );
    assert.notEqual(bootAfter, bootBefore);
    assert.equal(fs.existsSync(cluster.sentinelPath(node)), false, 'sentinel removed by the reboot');
    assert.equal(cluster.rebootCount(node), 1);
    assert.deepEqual(
      hookCalls.filter((c) => c.endsWith(node)),
      [`stop ${node}`, `start ${node}`],
    );
    await pollUntil(() => cluster.nodeHistory(node).at(-1)?.ready, {
      timeoutMs: 5000,
      describe: () => 'watch did not see the node Ready again',
    });
    const seen = cluster.nodeHistory(node).slice(historyBefore);
    const down = seen.findIndex((o) => !o.ready && o.bootId === bootAfter);
    const up = seen.findIndex((o) => o.ready && o.bootId === bootAfter);
    assert.ok(down >= 0 && up > down, `NotReady then Ready under the new boot ID: ${JSON.stringify(seen)}`);
    const downFor = seen[up]!.at.getTime() - seen[down]!.at.getTime();
    // Watch events arrive with some jitter; kwok reporting Ready too early would take a few ms.
    assert.ok(downFor >= REBOOT_DELAY_MS / 2, `NotReady for ${downFor} ms, expected about the reboot delay`);
  });

  test('the reboot command reboots its node, also run through nsenter into the host mount namespace', async () => {
    const plain = 'node-2';
    const bootPlain = await cluster.bootId(plain);
    const [cmd, ...args] = cluster.rebootCommand(plain).split(' ');
    assert.doesNotMatch(cluster.rebootCommand(plain), /[;&|$`<>'"]/);
    await execFileAsync(cmd!, args);
    await waitRebooted(plain, bootPlain, 1);

    // How an agent in a pod runs it: in the mount namespace of the host's init.
    const viaNsenter = 'node-3';
    const bootNsenter = await cluster.bootId(viaNsenter);
    const command = cluster.rebootCommand(viaNsenter).split(' ');
    await execFileAsync('nsenter', [`-m/proc/${cluster.initPid(viaNsenter)}/ns/mnt`, '--', ...command]);
    await waitRebooted(viaNsenter, bootNsenter, 1);
  });

  test('signal 39 to the node init process reboots the node', async () => {
    const node = 'node-4';
    const bootBefore = await cluster.bootId(node);
    process.kill(cluster.initPid(node), REBOOT_SIGNAL);
    await waitRebooted(node, bootBefore, 1);
    assert.equal(cluster.rebootCount('node-5'), 0, 'other nodes untouched');
  });
});

describe('testbed teardown', () => {
  test('stop() leaves no process, port or temp dir behind', { timeout: BOOT_TIMEOUT }, async () => {
    const cluster = await startCluster({ nodes: 1 });
    const port = Number(new URL(cluster.server).port);
    const pids = processesUsing(cluster.dir);
    assert.ok(
      pids.length >= 6,
      `expected etcd, apiserver, KCM, scheduler, kwok and init; found ${pids.length}`,
    );
    await cluster.stop();
    assert.equal(fs.existsSync(cluster.dir), false, 'temp dir removed');
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} still alive`);
    const reachable = await httpsGet(`${cluster.server}/readyz`, { ca: '' }).then(
      () => true,
      () => false,
    );
    assert.equal(reachable, false, `port ${port} still answers`);
  });

  test('a run killed with SIGKILL leaves nothing running, and the next run removes its dir', {
    timeout: BOOT_TIMEOUT,
  }, async () => {
    const script = `import { startCluster } from ${JSON.stringify(path.resolve('testbed/src/index.ts'))};
      const c = await startCluster({ nodes: 1, log: () => {} });
      console.log(c.dir);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    const dir = await pollUntil(() => out.includes('\n') && out.trim(), {
      timeoutMs: 60_000,
      describe: () => 'child cluster did not start',
    });
    assert.ok(processesUsing(dir).length >= 6);
    child.kill('SIGKILL');
    // The kernel kills the components with their parent (parent-death signal).
    await pollUntil(() => processesUsing(dir).length === 0, {
      timeoutMs: 10_000,
      describe: () => `processes left: ${processesUsing(dir).join(' ')}`,
    });
    assert.ok(fs.existsSync(dir), 'a SIGKILLed run cannot remove its own dir');
    assert.ok(cleanupStaleClusters().includes(dir));
    assert.equal(fs.existsSync(dir), false);
  });

  test('a stale dir with a leftover process is cleaned up, a live cluster dir is not', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), TEMP_DIR_PREFIX));
    const leftover = spawn('/bin/sleep', ['300', `${dir}/marker`], { detached: true, stdio: 'ignore' });
    leftover.unref();
    fs.writeFileSync(
      path.join(dir, 'state.json'),
      JSON.stringify({
        ownerPid: leftover.pid,
        ownerStartTime: 'not-this-process',
        createdAt: '',
        components: {},
      }),
    );
    const live = fs.mkdtempSync(path.join(os.tmpdir(), TEMP_DIR_PREFIX));
    writeDirState(live, {});
    try {
      const removed = cleanupStaleClusters();
      assert.ok(removed.includes(dir));
      assert.ok(!removed.includes(live) && fs.existsSync(live), 'the dir of a live owner is kept');
    } finally {
      fs.rmSync(live, { recursive: true, force: true });
    }
    assert.equal(fs.existsSync(dir), false);
    await pollUntil(() => leftover.exitCode !== null || leftover.signalCode !== null, {
      timeoutMs: 5000,
      describe: () => 'leftover process not killed',
    });
  });
});
