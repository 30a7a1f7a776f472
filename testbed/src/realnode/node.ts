/**
 * A real node beside the simulated ones: the cached guest (guest.ts) booted in qemu (vm.ts) with
 * a per-run data disk holding the kubelet, its credentials and settings, and image archives to
 * preload. The kubelet registers the Node itself through the guestfwd path to the API server.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, RbacAuthorizationV1Api, type V1Node } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Cluster } from '../cluster.ts';
import { TestbedError } from '../errors.ts';
import { ZONE_LABEL } from '../nodes.ts';
import { ensureGuest, requireTool } from './guest.ts';
import { ensureKubelet } from './kubelet.ts';
import { HOST_ADDRESS } from './recipe.ts';
import { Vm } from './vm.ts';

export interface RealNodeOptions {
  /** Node name (default `real-1`). */
  name?: string;
  zone?: string;
  /** Image archives (docker-archive or OCI tar) imported into the guest's containerd at its first boot. */
  images?: string[];
  /** Generous by default: TCG on a loaded 2-core host. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Label every real node carries, so tests and selectors can tell it from kwok's. */
export const REAL_NODE_LABEL = 'testbed.kured-ts.dev/real-node';
const NAMESPACE = 'kube-system';

export class RealNode {
  /** Wall time from qemu's start to the Node's Ready. */
  readyMs = 0;
  readonly name: string;
  readonly vm: Vm;
  private readonly cluster: Cluster;

  constructor(name: string, vm: Vm, cluster: Cluster) {
    this.name = name;
    this.vm = vm;
    this.cluster = cluster;
  }

  /** The guest's own boot ID (the kubelet reports the same in status.nodeInfo.bootID). */
  async bootId(): Promise<string> {
    return (await this.vm.sh('cat /proc/sys/kernel/random/boot_id', 30_000)).trim();
  }

  /** Writes /var/run/reboot-required in the guest, as unattended-upgrades does. */
  async requireReboot(): Promise<void> {
    await this.vm.sh('touch /var/run/reboot-required', 30_000);
  }

  exec(command: string, timeoutMs?: number) {
    return this.vm.exec(command, timeoutMs);
  }

  sh(command: string, timeoutMs?: number) {
    return this.vm.sh(command, timeoutMs);
  }

  /**
   * Resolves with the guest's new boot ID once it differs from `bootBefore`; a guest that does not
   * come back in time fails with the console's last lines (what it was doing when it stopped).
   */
  async waitRebooted(bootBefore: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.vm.hasExited())
        throw new TestbedError(`testbed: the real node's VM exited:\n${this.vm.consoleTail()}`);
      const id = await this.bootId().catch(() => undefined);
      if (id && id !== bootBefore) return id;
      if (Date.now() > deadline)
        throw new TestbedError(
          `testbed: real node ${this.name} did not come back with a new boot ID within ${timeoutMs / 1000}s (${id ? 'still on its old boot' : 'its shell does not answer'}); console's last lines:\n${this.vm.consoleTail()}`,
        );
      await sleep(2000);
    }
  }

  /** Resolves with the Node once the kubelet reports it Ready (with `bootId`, if given). */
  async waitReady(timeoutMs: number, bootId?: string): Promise<V1Node> {
    const core = this.cluster.kubeConfig().makeApiClient(CoreV1Api);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.vm.hasExited())
        throw new TestbedError(`testbed: the real node's VM exited:\n${this.vm.consoleTail()}`);
      const node = await core.readNode({ name: this.name }).catch(() => undefined);
      const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (node && ready && (!bootId || node.status?.nodeInfo?.bootID === bootId)) return node;
      if (Date.now() > deadline) throw new TestbedError(await this.notReadyMessage(timeoutMs, node));
      await sleep(1000);
    }
  }

  private async notReadyMessage(timeoutMs: number, node: V1Node | undefined): Promise<string> {
    const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
    const state = node
      ? `Ready=${ready?.status ?? 'unknown'} (${ready?.message ?? 'no message'})`
      : 'never registered';
    let units = '';
    try {
      const r = await this.vm.exec(
        'systemctl is-active containerd testbed-images testbed-run-images kubelet | paste -sd " "; systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd " "; journalctl -u kubelet -n 3 --no-pager -o cat',
        15_000,
      );
      units = `\n  guest: containerd/images/run-images/kubelet, then failed units: ${r.output.trim().split('\n').join('\n  | ')}`;
    } catch {
      units = `\n  the guest's shell does not answer; console's last lines:\n${this.vm.consoleTail()}`;
    }
    return `testbed: real node ${this.name} not Ready after ${timeoutMs / 1000}s: ${state}${units}`;
  }

  stop(): Promise<void> {
    return this.vm.stop();
  }
}

/** Boots a real node and joins it to `cluster`; resolves once the Node is Ready. */
export async function startRealNode(cluster: Cluster, opts: RealNodeOptions = {}): Promise<RealNode> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const name = opts.name ?? 'real-1';
  requireTool('qemu-system-x86_64', 'qemu-system-x86');
  requireTool('socat', 'socat');
  const guest = await ensureGuest(log);
  const kubelet = await ensureKubelet(log);
  const apiPort = Number(new URL(cluster.server).port);

  const dir = path.join(cluster.dir, 'realnode', name);
  const data = path.join(dir, 'data');
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  fs.copyFileSync(kubelet, path.join(data, 'kubelet'));
  fs.chmodSync(path.join(data, 'kubelet'), 0o755);
  for (const img of opts.images ?? []) {
    if (!fs.existsSync(img))
      throw new TestbedError(`testbed: image archive ${img} for the real node does not exist`);
    fs.copyFileSync(img, path.join(data, 'images', path.basename(img)));
  }
  const token = await kubeletToken(cluster, name);
  fs.writeFileSync(path.join(data, 'kubeconfig'), kubeletKubeconfig(cluster, apiPort, token), {
    mode: 0o600,
  });
  const labels = [`${ZONE_LABEL}=${opts.zone ?? 'zone-a'}`, `${REAL_NODE_LABEL}=true`].join(',');
  fs.writeFileSync(
    path.join(data, 'node.env'),
    `API_PORT=${apiPort}\nNODE_NAME=${name}\nNODE_LABELS=${labels}\n`,
  );
  const dataDisk = path.join(dir, 'data.img');
  makeDataDisk(data, dataDisk);
  // Its files are in the disk image now; the copies would double the run's disk use.
  fs.rmSync(data, { recursive: true, force: true });

  const vm = new Vm({ name, guest, dataDisk, dir, forward: [apiPort] });
  const started = Date.now();
  vm.start();
  const node = new RealNode(name, vm, cluster);
  const timeout = opts.readyTimeoutMs ?? 600_000;
  log(`testbed: booting real node ${name} (qemu TCG; up to ${timeout / 1000}s to Ready)`);
  try {
    await node.waitReady(timeout);
  } catch (err) {
    await vm.stop();
    throw err;
  }
  node.readyMs = Date.now() - started;
  log(`testbed: real node ${name} Ready in ${(node.readyMs / 1000).toFixed(0)}s`);
  return node;
}

/**
 * A ServiceAccount token bound to the `system:node` ClusterRole: the kubelet's RBAC rights. (The
 * testbed's API server authenticates static tokens fixed at its start, so a node added later
 * uses this instead of a system:node:<name> identity; no Node authorizer runs here either way.)
 */
async function kubeletToken(cluster: Cluster, name: string): Promise<string> {
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const sa = `kubelet-${name}`;
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: sa } } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `testbed-kubelet-${name}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }],
    },
  });
  return cluster.serviceAccountToken(NAMESPACE, sa, 7 * 24 * 3600);
}

/** The guest reaches the API server at HOST_ADDRESS; the serving certificate names localhost. */
function kubeletKubeconfig(cluster: Cluster, port: number, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'testbed',
        cluster: {
          server: `https://${HOST_ADDRESS}:${port}`,
          'certificate-authority-data': fs.readFileSync(cluster.caFile).toString('base64'),
          'tls-server-name': 'localhost',
        },
      },
    ],
    users: [{ name: 'kubelet', user: { token } }],
    contexts: [{ name: 'kubelet', context: { cluster: 'testbed', user: 'kubelet' } }],
    'current-context': 'kubelet',
  });
}

function makeDataDisk(dir: string, out: string): void {
  let bytes = 0;
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) bytes += st.size;
  }
  const mb = Math.ceil((bytes * 1.1) / 2 ** 20) + 32;
  fs.closeSync(fs.openSync(out, 'w'));
  try {
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-L', 'testbed', '-d', dir, out, `${mb}M`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new TestbedError(
      `testbed: making the real node's data disk failed: ${String(e.stderr ?? err).trim()}`,
    );
  }
}
