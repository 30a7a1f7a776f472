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
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ImageReport } from '../../scripts/image/build.ts';
import { BUNDLE_PATH, ENTRYPOINT, imageName, REPO_ROOT } from '../../scripts/image/spec.ts';
import { helmBinary } from '../../scripts/render-manifests.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import {
  agentContainer,
  docsInstallCommand,
  find,
  helm,
  type Obj,
  parseObjects,
  runAsWritten,
} from '../unit/deploy/render.ts';
import { settled } from './helm-support.ts';
import { Podman } from './support/podman.ts';
import { eventReasons, lockValue, resetNodes, waitFor } from './support/scenario.ts';

const NS = 'kured-ts';
const IMAGE_DIR = join(REPO_ROOT, 'dist/image');
/** Args the testbed sets per simulated host (its reboot command) or that would clash on one host. */
const HOST_SPECIFIC = /^--(reboot-command|metrics-port|log-format)=/;

let report: ImageReport;
let podman: Podman;
let cluster: Cluster;
let objs: Obj[];
let tokenDir: string;

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
  // What a kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount for the pod.
  tokenDir = join(podman.dir, 'serviceaccount');
  mkdirSync(tokenDir);
  const sa = find(objs, 'ServiceAccount').metadata.name;
  writeFileSync(join(tokenDir, 'token'), await cluster.serviceAccountToken(NS, sa));
  writeFileSync(join(tokenDir, 'ca.crt'), readFileSync(cluster.caFile));
  writeFileSync(join(tokenDir, 'namespace'), NS);
});

after(async () => {
  podman?.remove();
  await cluster?.stop();
});

/** The DaemonSet's container, run for one node at a time; restarted when the node comes back. */
class ContainerAgent {
  readonly node: string;
  readonly lines: string[] = [];
  starts = 0;
  private proc: ChildProcess | undefined;
  private name = '';
  private readonly securityFlags: string[];
  private readonly extraArgs: string[];

  constructor(node: string, securityFlags: string[], extraArgs: string[]) {
    this.node = node;
    this.securityFlags = securityFlags;
    this.extraArgs = extraArgs;
  }

  start(): void {
    const c = agentContainer(objs);
    const ds = find(objs, 'DaemonSet').spec.template.spec;
    assert.equal(ds.hostPID, true);
    const sentinel = find(objs, 'DaemonSet').spec.template.spec.volumes.find(
      (v: Obj) => v.name === 'sentinel',
    );
    const api = new URL(cluster.server);
    this.name = `kured-ts-${this.node}-${++this.starts}`;
    const args = [
      'run',
      '--rm',
      `--name=${this.name}`,
      ...podman.runFlags(),
      '--pid=host',
      // The pod network of a real node reaches the API server's Service; here it is on loopback.
      '--network=host',
      ...this.securityFlags,
      `--env=KURED_NODE_ID=${this.node}`,
      `--env=KUBERNETES_SERVICE_HOST=${api.hostname}`,
      `--env=KUBERNETES_SERVICE_PORT=${api.port}`,
      `--volume=${tokenDir}:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
      // hostPath dirname(rebootSentinel) of the node's host, mounted as the chart mounts it.
      `--volume=${join(cluster.hostDir(this.node), sentinel.hostPath.path)}:/sentinel:ro`,
      c.image,
      ...c.args.filter((a: string) => !HOST_SPECIFIC.test(a)),
      '--metrics-port=0',
      '--log-format=json',
      // The node's stand-in init plays the host's PID 1.
      `--host-pid=${cluster.initPid(this.node)}`,
      ...this.extraArgs,
    ];
    const proc = spawn('podman', [...podman.flags(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer) => this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    proc.stdout.on('data', collect);
    proc.stderr.on('data', collect);
    this.proc = proc;
  }

  /** The node goes down: its container dies without warning. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
    await promisify(execFile)('podman', [...podman.flags(), 'rm', '--force', '--time=0', this.name]);
    await exited;
  }

  messages(): string[] {
    return this.lines.flatMap((l) => {
      try {
        return [String((JSON.parse(l) as { msg?: unknown }).msg)];
      } catch {
        return [l];
      }
    });
  }
}

/** Runs body with the node's agent in a container; the testbed restarts it after the reboot. */
async function withAgent(agent: ContainerAgent, body: () => Promise<void>): Promise<void> {
  await resetNodes(cluster);
  cluster.setAgentHooks({ stop: () => agent.kill(), start: async () => agent.start() });
  agent.start();
  try {
    await body();
  } catch (err) {
    const log = agent.lines.slice(-20).join('\n');
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- container log:\n${log}`, {
      cause: err,
    });
  } finally {
    cluster.setAgentHooks(undefined);
    await agent.kill();
  }
}

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
      node,
      ['--privileged', '--read-only', '--user=0'],
      // The chart's /bin/systemctl reboot, replaced by the testbed's reboot of this node, run
      // through the image's nsenter in the mount namespace of the node's init.
      [`--reboot-command=${cluster.rebootCommand(node)}`],
    );
    await withAgent(agent, async () => {
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
      node,
      ['--cap-drop=ALL', '--cap-add=KILL', '--security-opt=no-new-privileges', '--read-only', '--user=0'],
      ['--reboot-method=signal'],
    );
    await withAgent(agent, async () => {
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
