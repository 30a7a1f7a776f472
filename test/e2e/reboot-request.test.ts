/**
 * `kured-ts reboot NODE` (and `kubectl kured-ts reboot`) end to end: an operator whose RBAC is only
 * `get` and `patch` on nodes asks for one node's reboot; its idle agent finds the request at its
 * next look and goes through the lock, the drain and the gates as for a sentinel; the request is
 * gone once the node is back. A closed window holds the request unless it waives the window.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { BUNDLE, Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { CYCLE, clients, lockValue, nodeState, resetNodes, waitFor } from './support/scenario.ts';

const REQUEST = 'kured-ts.dev/reboot-request';

let cluster: Cluster;
let operatorKubeconfig: string;
let pluginDir: string;

before(async () => {
  cluster = await startCluster({ nodes: 3, rebootDelayMs: 1000 });
  // An operator who may only read and patch nodes.
  const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await clients(cluster).core.createNamespacedServiceAccount({
    namespace: 'default',
    body: { metadata: { name: 'oncall' } },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'oncall' },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'oncall' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'oncall' },
      subjects: [{ kind: 'ServiceAccount', name: 'oncall', namespace: 'default' }],
    },
  });
  operatorKubeconfig = cluster.kubeconfigForToken(
    await cluster.serviceAccountToken('default', 'oncall'),
    'oncall',
  );
  // The kubectl plugin is the same bundle under the name kubectl looks for.
  pluginDir = mkdtempSync(join(tmpdir(), 'kured-ts-plugin-'));
  symlinkSync(BUNDLE, join(pluginDir, 'kubectl-kured_ts'));
});
after(async () => {
  rmSync(pluginDir, { recursive: true, force: true });
  await cluster?.stop();
});

function run(bin: string, args: string[], kubeconfig: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', KUBECONFIG: kubeconfig },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const cli = (...args: string[]) => run(BUNDLE, args, operatorKubeconfig);
const plugin = (...args: string[]) => run(join(pluginDir, 'kubectl-kured_ts'), args, operatorKubeconfig);

/** resetNodes, and no request left by an earlier case. */
async function reset(): Promise<void> {
  await resetNodes(cluster);
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  for (const name of cluster.nodes)
    await clients(cluster).core.patchNode(
      { name, body: { metadata: { annotations: { [REQUEST]: null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
}

async function rebootedOnce(node: string, before: number): Promise<void> {
  await waitFor(
    `${node} rebooted, back, request gone`,
    async () => {
      const s = await nodeState(cluster, node);
      return (
        cluster.rebootCount(node) === before + 1 &&
        s.ready &&
        !s.unschedulable &&
        !s.annotations[CYCLE] &&
        !s.annotations[REQUEST]
      );
    },
    90_000,
  );
}

test('an operator with only get/patch on nodes has an idle node rebooted through the lock', async () => {
  await reset();
  const fleet = new Fleet(cluster, { dsName: 'kured-request', args: ['--reboot-request-period=2s'] });
  await fleet.createLockDaemonSet();
  try {
    fleet.startAll();
    // Let the agents go quiet (no sentinel anywhere): the request must reach an idle agent.
    await delay(2000);
    const before = cluster.rebootCount('node-2');
    const r = cli('reboot', 'node-2', '--reason', 'kernel fix');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^reboot of node-2 requested; its agent takes it through the lock/);
    const request = JSON.parse((await nodeState(cluster, 'node-2')).annotations[REQUEST]!) as {
      reason: string;
    };
    assert.equal(request.reason, 'kernel fix');
    await rebootedOnce('node-2', before);
    assert.equal(await lockValue(cluster, 'kured-request'), undefined);
    assert.equal(cluster.rebootCount('node-1'), 0);
    assert.equal(cluster.rebootCount('node-3'), 0);
    // Nothing else to do: no second reboot for the same request.
    await delay(3000);
    assert.equal(cluster.rebootCount('node-2'), before + 1);
  } finally {
    await fleet.stopAll();
  }
});

test('a closed window holds a request; the kubectl plugin asks again waiving the window, and it goes', async () => {
  await reset();
  // A window of one second a day, at midnight: closed for the test.
  const window = ['--start-time=00:00', '--end-time=00:00:01', '--reboot-request-period=2s'];
  const fleet = new Fleet(cluster, { dsName: 'kured-window', args: window });
  await fleet.createLockDaemonSet();
  try {
    fleet.startAll();
    const before = cluster.rebootCount('node-3');
    const held = plugin('reboot', 'node-3', '--reason', 'kernel 6.12.9');
    assert.equal(held.code, 0, held.err);
    await waitFor('the agent to see the request', () =>
      fleet.messages('node-3').some((m) => m.startsWith('reboot held back: ')),
    );
    await delay(2000);
    assert.equal(cluster.rebootCount('node-3'), before, 'rebooted outside the window');
    assert.equal((await nodeState(cluster, 'node-3')).unschedulable, false);
    // status (an admin's read) shows the request held, with its reason.
    const shown = run(BUNDLE, ['status', '--ds-name=kured-window', '-o', 'json'], cluster.kubeconfigPath);
    const row = (
      JSON.parse(shown.out) as {
        nodes: { node: string; cycle?: string; rebootRequest?: { reason?: string } }[];
      }
    ).nodes.find((n) => n.node === 'node-3');
    assert.equal(row?.cycle, 'requested', shown.out);
    assert.equal(row?.rebootRequest?.reason, 'kernel 6.12.9', shown.out);

    const waived = plugin('reboot', 'node-3', '--ignore-window', '--reason', 'stuck driver');
    assert.equal(waived.code, 0, waived.err);
    assert.match(waived.out, /replacing the request of .*; the window waived/);
    await rebootedOnce('node-3', before);
  } finally {
    await fleet.stopAll();
  }
});

test('--dry-run writes nothing and shows the plan with the request; bad input is one line', async () => {
  await reset();
  const fleet = new Fleet(cluster, { dsName: 'kured-dry' });
  await fleet.createLockDaemonSet();
  try {
    // plan reads the agents' DaemonSet and lists nodes: the admin's kubeconfig.
    const dry = run(BUNDLE, ['reboot', 'node-1', '--dry-run', '--ds-name=kured-dry'], cluster.kubeconfigPath);
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /^1\s+node-1\s/m, dry.out);
    assert.match(dry.out, /the rollout can proceed/);
    assert.equal((await nodeState(cluster, 'node-1')).annotations[REQUEST], undefined);

    const missing = cli('reboot', 'node-9');
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'kured-ts: no node "node-9" in the cluster (kubectl get nodes lists them)\n');
    const noNode = plugin('reboot');
    assert.equal(noNode.code, 1);
    assert.match(
      noNode.err,
      /^kubectl kured-ts: missing required argument 'node'; see kubectl kured-ts --help\n$/,
    );
  } finally {
    await fleet.stopAll();
  }
});
