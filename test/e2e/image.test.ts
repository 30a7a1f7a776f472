/**
 * The image `make image` built (dist/image), run as the agent of a simulated node, the way the
 * chart's DaemonSet runs it: the chart is installed with the docs' command, and the container gets
 * the DaemonSet's image, args, env and security context, the host's PID namespace, the sentinel's
 * host directory at /sentinel, and the chart ServiceAccount's token mounted where a kubelet mounts
 * it (in-cluster config). podman (runc, vfs) plays the container runtime, with the host's network
 * to reach the testbed's API server on 127.0.0.1. A reboot of the node kills its container; the
 * node coming back starts a new one, as a kubelet restarts a DaemonSet pod.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageReport } from '../../scripts/image/build.ts';
import { BUNDLE_PATH, ENTRYPOINT, imageName, REPO_ROOT } from '../../scripts/image/spec.ts';
import { helmBinary } from '../../scripts/render-manifests.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import {
  agentContainer,
  docsInstallCommand,
  helm,
  type Obj,
  parseObjects,
  runAsWritten,
} from '../unit/deploy/render.ts';
import { settled } from './helm-support.ts';
import { ContainerAgent, type PodContext, serviceAccountDir, withAgent } from './support/container-agent.ts';
import { Podman } from './support/podman.ts';
import { eventReasons, lockValue, waitFor } from './support/scenario.ts';

const NS = 'kured-ts';
const IMAGE_DIR = join(REPO_ROOT, 'dist/image');

let report: ImageReport;
let podman: Podman;
let cluster: Cluster;
let objs: Obj[];
let pod: PodContext;

before(async () => {
  const file = join(IMAGE_DIR, 'image.json');
  assert.ok(existsSync(file), `${file} is missing: run make image (make test does)`);
  report = JSON.parse(readFileSync(file, 'utf8'));
  const bundle = createHash('sha256')
    .update(readFileSync(join(REPO_ROOT, 'dist/kured-ts.mjs')))
    .digest('hex');
  assert.equal(
    report.bundle,
    `sha256:${bundle}`,
    'dist/image holds another bundle than dist/kured-ts.mjs: run make image',
  );
  podman = new Podman();
  podman.run(['load', '--quiet', `--input=${report.platforms.amd64!.archive}`]);
  cluster = await startCluster({ nodes: 2, rebootDelayMs: 1500 });
  const bin = await helmBinary();
  const install = runAsWritten(bin, docsInstallCommand(), { KUBECONFIG: cluster.kubeconfigPath });
  assert.equal(install.status, 0, install.stderr);
  objs = parseObjects(
    helm(bin, ['get', 'manifest', 'kured-ts', '--namespace', NS, '--kubeconfig', cluster.kubeconfigPath])
      .stdout,
  );
  pod = { cluster, podman, objs, tokenDir: await serviceAccountDir(podman, cluster, objs, NS) };
});

after(async () => {
  podman?.remove();
  await cluster?.stop();
});

const CYCLE = ['LockAcquired', 'Cordoned', 'Draining', 'Drained', 'Rebooting', 'Uncordoned', 'LockReleased'];

describe('the image', () => {
  it('is the chart default image, non-root by default, started with the entrypoint of the tests', () => {
    assert.equal(report.reference, imageName().reference);
    assert.equal(agentContainer(objs).image, report.reference);
    const config = JSON.parse(
      podman.run(['image', 'inspect', '--format={{json .Config}}', report.reference]),
    );
    assert.equal(config.User, '1000:1000');
    assert.deepEqual(config.Entrypoint, ENTRYPOINT);
    assert.equal(ENTRYPOINT.at(-1), BUNDLE_PATH);
    const version = podman.run([
      'run',
      '--rm',
      ...podman.runFlags(),
      '--entrypoint=node',
      report.reference,
      '--version',
    ]);
    assert.equal(version, `v${report.node}`);
    assert.equal(version, process.version, 'the image runs another Node than the tests');
  });

  it('reboots its node through the whole cycle as the chart runs it: privileged, uid 0, nsenter into the host', async () => {
    const sc = agentContainer(objs).securityContext;
    assert.deepEqual(sc, { privileged: true, readOnlyRootFilesystem: true, runAsUser: 0 });
    const node = 'node-1';
    const agent = new ContainerAgent(
      pod,
      node,
      ['--privileged', '--read-only', '--user=0'],
      // The chart's /bin/systemctl reboot, replaced by the testbed's reboot of this node, run
      // through the image's nsenter in the mount namespace of the node's init.
      [`--reboot-command=${cluster.rebootCommand(node)}`],
    );
    await withAgent(cluster, agent, async () => {
      const before = cluster.rebootCount(node);
      cluster.requireReboot(node);
      await settled(cluster, node, before + 1);
      await waitFor(
        'the lock to be released',
        async () => (await lockValue(cluster, 'kured-ts', NS)) === undefined,
      );
      const reasons = await eventReasons(cluster, node);
      assert.deepEqual(reasons.filter((r) => CYCLE.includes(r)).slice(-CYCLE.length), CYCLE);
      await waitFor(
        'the restarted container to start its agent',
        () => agent.starts === 2 && agent.messages().filter((m) => m === 'kured-ts starting').length === 2,
      );
      assert.equal(cluster.rebootCount('node-2'), 0);
    });
  });

  it("reboots its node with the chart's unprivileged alternative: the signal method with CAP_KILL only", async () => {
    const node = 'node-2';
    const agent = new ContainerAgent(
      pod,
      node,
      ['--cap-drop=ALL', '--cap-add=KILL', '--security-opt=no-new-privileges', '--read-only', '--user=0'],
      ['--reboot-method=signal'],
    );
    await withAgent(cluster, agent, async () => {
      const before = cluster.rebootCount(node);
      cluster.requireReboot(node);
      await settled(cluster, node, before + 1);
      await waitFor(
        'the lock to be released',
        async () => (await lockValue(cluster, 'kured-ts', NS)) === undefined,
      );
      assert.ok((await eventReasons(cluster, node)).includes('Rebooting'));
    });
  });
});
