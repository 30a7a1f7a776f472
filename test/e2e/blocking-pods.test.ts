/**
 * The blocking-pod gate against the real control plane (testbed: kube-apiserver, kwok running the
 * pods). Pods are created with spec.nodeName (there is no scheduler).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { GateVerdict } from '../../src/core/ports.ts';
import { podsGate } from '../../src/gates/pods.ts';
import { connect } from '../../src/kube/client.ts';
import { type Cluster, pollUntil, startCluster } from '../../testbed/src/index.ts';

let cluster: Cluster;
let core: CoreV1Api;
let namespace = '';
let node1 = '';
let node2 = '';

before(
  async () => {
    cluster = await startCluster({ nodes: 2, namePrefix: 'blockpods' });
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    [node1 = '', node2 = ''] = cluster.nodes;
    namespace = `blockers-${randomBytes(3).toString('hex')}`;
    await cluster.createNamespace(namespace);
  },
  { timeout: 15 * 60_000 },
);
after(() => cluster?.stop());

async function runningPod(name: string, node: string, labels: Record<string, string>): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels },
      spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
    },
  });
  await pollUntil(
    async () => (await core.readNamespacedPod({ namespace, name })).status?.phase === 'Running',
    {
      timeoutMs: 30_000,
      describe: () => `pod ${name} not Running within 30s`,
    },
  );
}

const reasonOf = (v: GateVerdict): string => (v.open ? 'open' : v.reason);
const check = async (node: string, selectors: string[]) =>
  reasonOf(
    await podsGate(connect({ KUBECONFIG: cluster.kubeconfigPath }), node, selectors).check(new Date()),
  );

test('a running pod matching a selector on this node blocks; elsewhere or unmatched it does not', async () => {
  await runningPod('backup-1', node1, { app: 'backup', tier: 'batch' });
  assert.equal(
    await check(node1, ['app=backup']),
    `pod matching "app=backup" on this node: ${namespace}/backup-1`,
  );
  assert.equal(await check(node2, ['app=backup']), 'open');
  assert.equal(await check(node1, ['app=web']), 'open');
  // Selectors are OR'ed; commas inside one selector AND.
  assert.equal(
    await check(node1, ['app=web', 'app=backup,tier=batch']),
    `pod matching "app=backup,tier=batch" on this node: ${namespace}/backup-1`,
  );
  assert.equal(await check(node1, ['app=backup,tier=web']), 'open');
  assert.equal(
    await check(node1, ['app in (backup, restore)']),
    `pod matching "app in (backup, restore)" on this node: ${namespace}/backup-1`,
  );
});

test('a finished (Succeeded) pod no longer blocks', async () => {
  await runningPod('job-1', node2, { app: 'migration' });
  assert.match(await check(node2, ['app=migration']), /job-1/);
  await core.patchNamespacedPodStatus(
    { namespace, name: 'job-1', body: { status: { phase: 'Succeeded' } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await pollUntil(async () => (await check(node2, ['app=migration'])) === 'open', {
    timeoutMs: 10_000,
    describe: () => 'the Succeeded pod still blocks',
  });
});

test("a list the agent may not make blocks, with the API server's reason", async () => {
  const token = await cluster.serviceAccountToken(namespace, 'default');
  const kube = connect({ KUBECONFIG: cluster.kubeconfigForToken(token, 'no-rbac') });
  const verdict = await podsGate(kube, node1, ['app=backup']).check(new Date());
  assert.equal(verdict.open, false);
  assert.match(
    reasonOf(verdict),
    /^cannot list pods matching "app=backup" \(pods is forbidden: User "system:serviceaccount:blockers-[0-9a-f]+:default" cannot list resource "pods"/,
  );
});
