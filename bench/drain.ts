/**
 * Drain speed: kured-ts's drainer against `kubectl drain` on the same kind of pods (DESIGN.md:
 * "as fast as kubectl drain"). Each drains PODS bare pods from its own node of the testbed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { realClock } from '../src/agent/clock.ts';
import { createDrainer } from '../src/drain/drainer.ts';
import { connect } from '../src/kube/client.ts';
import { startCluster } from '../testbed/src/index.ts';

const PODS = Number(process.env.PODS ?? 30);
const cluster = await startCluster({ nodes: 2, log: () => {} });
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);

async function fill(node: string, ns: string): Promise<void> {
  await cluster.createNamespace(ns);
  await Promise.all(
    Array.from({ length: PODS }, (_, i) =>
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: `p${i}` },
          spec: { nodeName: node, terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'c' }] },
        },
      }),
    ),
  );
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace: ns });
    if (pods.items.filter((p) => p.status?.phase === 'Running').length === PODS) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  await fill('node-1', 'bench-ours');
  const drainer = createDrainer(connect({ KUBECONFIG: cluster.kubeconfigPath }), {
    gracePeriodSeconds: -1,
    podSelector: '',
    skipWaitForDeleteTimeoutSeconds: 0,
    clock: realClock,
    logger: pino({ level: 'silent' }),
  });
  let t0 = Date.now();
  const result = await drainer.drain('node-1', {});
  const ours = Date.now() - t0;
  console.log(`kured-ts drain of ${PODS} pods: ${ours} ms (${result.ok ? 'ok' : result.reason})`);

  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) {
    console.log('kubectl drain: kubectl not found, no comparison');
  } else {
    await fill('node-2', 'bench-kubectl');
    const env = { ...process.env, KUBECONFIG: cluster.kubeconfigPath };
    t0 = Date.now();
    execFileSync('kubectl', ['drain', 'node-2', '--ignore-daemonsets', '--delete-emptydir-data', '--force'], {
      env,
      stdio: 'ignore',
    });
    const theirs = Date.now() - t0;
    console.log(
      `kubectl drain of ${PODS} pods:  ${theirs} ms (cordon included; ${execFileSync('kubectl', ['version', '--client'], { env }).toString().split('\n')[0]})`,
    );
  }
} finally {
  await cluster.stop();
}
