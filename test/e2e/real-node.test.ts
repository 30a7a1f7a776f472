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
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { type RealNode, startRealNode } from '../../testbed/src/realnode/node.ts';
import { BUSYBOX_IMAGE } from '../../testbed/src/realnode/recipe.ts';
import { clients, waitFor } from './support/scenario.ts';

const IMAGE_DIR = path.join(import.meta.dirname, '../../dist/image');
const REAL = 'real-1';
const MIN = 60_000;

let cluster: Cluster;
let real: RealNode;

before(
  async () => {
    const archive = path.join(IMAGE_DIR, 'kured-ts-amd64.tar');
    if (!fs.existsSync(archive)) throw new Error(`${archive} is missing: run make image (make test does)`);
    cluster = await startCluster({ nodes: 3, rebootDelayMs: 1500 });
    real = await startRealNode(cluster, { name: REAL, zone: 'zone-c', images: [archive] });
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
