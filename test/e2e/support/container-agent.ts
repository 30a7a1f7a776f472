/**
 * The chart's DaemonSet container, run by podman for one simulated node at a time, the way a kubelet
 * would: the DaemonSet's image, args and env, the host's PID namespace, the sentinel's host directory
 * at /sentinel, and the chart ServiceAccount's token where a kubelet mounts it (in-cluster config).
 * The testbed's reboot of the node kills it; the node coming back starts a new one.
 * test/e2e/image.test.ts runs the image `make image` built; release.test.ts the one pulled from a registry.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Cluster } from '../../../testbed/src/index.ts';
import { agentContainer, find, type Obj } from '../../unit/deploy/render.ts';
import type { Podman } from './podman.ts';
import { resetNodes } from './scenario.ts';

/** Args the testbed sets per simulated host (its reboot command) or that would clash on one host. */
const HOST_SPECIFIC = /^--(reboot-command|metrics-port|log-format)=/;

/** What the containers of one installed chart share. */
export interface PodContext {
  cluster: Cluster;
  podman: Podman;
  /** The chart's objects as installed (`helm get manifest`). */
  objs: Obj[];
  /** The ServiceAccount token, CA and namespace files (serviceAccountDir). */
  tokenDir: string;
}

/** Writes what a kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount for the chart's pod. */
export async function serviceAccountDir(
  podman: Podman,
  cluster: Cluster,
  objs: Obj[],
  ns: string,
): Promise<string> {
  const dir = join(podman.dir, 'serviceaccount');
  mkdirSync(dir);
  const sa = find(objs, 'ServiceAccount').metadata.name;
  writeFileSync(join(dir, 'token'), await cluster.serviceAccountToken(ns, sa));
  writeFileSync(join(dir, 'ca.crt'), readFileSync(cluster.caFile));
  writeFileSync(join(dir, 'namespace'), ns);
  return dir;
}

/** The DaemonSet's container, run for one node at a time; restarted when the node comes back. */
export class ContainerAgent {
  readonly node: string;
  readonly lines: string[] = [];
  starts = 0;
  private proc: ChildProcess | undefined;
  private name = '';
  private readonly securityFlags: string[];
  private readonly extraArgs: string[];

  private readonly pod: PodContext;

  constructor(pod: PodContext, node: string, securityFlags: string[], extraArgs: string[]) {
    this.pod = pod;
    this.node = node;
    this.securityFlags = securityFlags;
    this.extraArgs = extraArgs;
  }

  start(): void {
    const { objs, cluster, podman, tokenDir } = this.pod;
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
    await promisify(execFile)('podman', [...this.pod.podman.flags(), 'rm', '--force', '--time=0', this.name]);
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
export async function withAgent(
  cluster: Cluster,
  agent: ContainerAgent,
  body: () => Promise<void>,
): Promise<void> {
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
