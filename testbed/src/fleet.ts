/**
 * Runs real kured-ts agents (the bundle, exactly as the image runs it) as processes, one per
 * simulated node of a testbed cluster, and restarts a node's agent when the node reboots, as the
 * kubelet restarts a DaemonSet pod.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import type { Cluster } from './cluster.ts';
import { removeOnExit } from './exit-cleanup.ts';
import { scaledTimeoutMs } from './scale.ts';
import { pollUntil } from './wait.ts';

export const BUNDLE = join(import.meta.dirname, '../../dist/kured-ts.mjs');
/** Node flags of the image's ENTRYPOINT (scripts/image/spec.ts), so tests run the agent as the image does. */
export const NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--bytecode-old-age=1',
  '--single-threaded-gc',
  '--no-opt',
  '--no-maglev',
  '--no-sparkplug',
];
/** The environment the image sets for Node (scripts/image/spec.ts ENV): glibc's malloc tuned for one idle process. */
export const NODE_ENV_VARS = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.top_pad=0' };

export interface FleetOptions {
  dsNamespace?: string;
  dsName?: string;
  /** Extra flags for every agent. */
  args?: string[];
  /** Extra flags for one node's agent. */
  nodeArgs?: (node: string) => string[];
  env?: Record<string, string>;
  /** Kubeconfig the agents use (default: the admin one). */
  kubeconfig?: string;
  /** One node's own kubeconfig (e.g. another ServiceAccount's RBAC), else `kubeconfig`. */
  nodeKubeconfig?: (node: string) => string | undefined;
  /** 'command' (default) or 'signal'. */
  method?: 'command' | 'signal';
}

export class Fleet {
  readonly cluster: Cluster;
  readonly opts: Required<Pick<FleetOptions, 'dsNamespace' | 'dsName'>> & FleetOptions;
  private readonly procs = new Map<string, ChildProcess>();
  private readonly logs = new Map<string, string[]>();
  /** How many times each node's agent was started. */
  readonly starts = new Map<string, number>();
  private readonly logDir: string;
  private readonly forget: () => void;
  private createdLockDaemonSet = false;

  constructor(cluster: Cluster, opts: FleetOptions = {}) {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run make build (make test does)`);
    this.cluster = cluster;
    this.opts = { dsNamespace: 'kube-system', dsName: 'kured', ...opts };
    this.logDir = join(cluster.dir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
    // Agents must not outlive a test runner that is killed: each runs in its own process group.
    this.forget = removeOnExit({
      dir: join(cluster.dir, 'fleet'),
      pgids: () => [...this.procs.values()].map((p) => p.pid!),
    });
    cluster.setAgentHooks({
      // A rebooting node takes its agent down with it, without warning.
      stop: (node) => this.stop(node, 'SIGKILL'),
      start: async (node) => this.start(node),
    });
  }

  /**
   * Creates the DaemonSet that carries the lock, as the chart would: the DaemonSet controller creates
   * its pod on every node (kwok plays them; the agents themselves run as host processes). Resolves once
   * every node's pod is Ready, so the controller's status writes are done before agents take the lock
   * (`ready: false`: at once, as `helm install` does while a node is down).
   */
  async createLockDaemonSet(
    annotations: Record<string, string> = {},
    { ready = true }: { ready?: boolean } = {},
  ): Promise<void> {
    const apps = this.cluster.kubeConfig().makeApiClient(AppsV1Api);
    const labels = { app: this.opts.dsName };
    const { dsName: name, dsNamespace: namespace } = this.opts;
    await apps.createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name, annotations },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: { 'kubernetes.io/os': 'linux' },
              terminationGracePeriodSeconds: 1,
              // As light as a pod gets: no token volume, no Service variables (thousands of them at scale).
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              containers: [{ name: 'kured-ts', image: 'kured-ts:dev' }],
            },
          },
        },
      },
    });
    this.createdLockDaemonSet = true;
    if (!ready) return;
    // The controllers create, bind and start one pod per node: 30 s, and 100 ms per node beyond 100.
    const timeoutMs = scaledTimeoutMs(30_000, this.cluster.nodes.length, 100);
    await pollUntil(
      async () => {
        const ds = await apps.readNamespacedDaemonSet({ name, namespace });
        const s = ds.status;
        return (
          (s?.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 1) &&
          (s?.desiredNumberScheduled ?? 0) > 0 &&
          s?.numberReady === s?.desiredNumberScheduled
        );
      },
      {
        timeoutMs,
        intervalMs: this.cluster.nodes.length > 100 ? 1000 : 100,
        describe: () =>
          `testbed: DaemonSet ${namespace}/${name} has no Ready pod on every node after ${timeoutMs / 1000}s`,
      },
    );
  }

  args(node: string): string[] {
    const c = this.cluster;
    const method = this.opts.method ?? 'command';
    return [
      `--ds-namespace=${this.opts.dsNamespace}`,
      `--ds-name=${this.opts.dsName}`,
      `--reboot-sentinel=${c.sentinelPath(node)}`,
      // The node's stand-in init plays PID 1: nsenter enters its mount namespace, signals go to it.
      `--host-pid=${c.initPid(node)}`,
      `--reboot-method=${method}`,
      ...(method === 'command' ? [`--reboot-command=${c.rebootCommand(node)}`] : []),
      '--metrics-port=0',
      '--log-format=json',
      ...(this.opts.args ?? []),
      ...(this.opts.nodeArgs?.(node) ?? []),
    ];
  }

  start(node: string): void {
    if (this.procs.has(node)) return;
    const proc = spawn(process.execPath, [...NODE_FLAGS, BUNDLE, ...this.args(node)], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...NODE_ENV_VARS,
        KUBECONFIG: this.opts.nodeKubeconfig?.(node) ?? this.opts.kubeconfig ?? this.cluster.kubeconfigPath,
        KURED_NODE_ID: node,
        ...this.opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.starts.set(node, (this.starts.get(node) ?? 0) + 1);
    const lines = this.logs.get(node) ?? [];
    this.logs.set(node, lines);
    const collect = (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean));
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    proc.on('exit', () => {
      if (this.procs.get(node) === proc) this.procs.delete(node);
      writeFileSync(join(this.logDir, `agent-${node}.log`), `${lines.join('\n')}\n`);
    });
    this.procs.set(node, proc);
  }

  startAll(nodes: readonly string[] = this.cluster.nodes): void {
    for (const n of nodes) this.start(n);
  }

  async stop(node: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.procs.get(node);
    if (!proc) return;
    this.procs.delete(node);
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
    proc.kill(signal);
    await exited;
  }

  /** Stops every agent, and deletes the lock DaemonSet (and so its pods) if this fleet created it. */
  async stopAll(): Promise<void> {
    this.cluster.setAgentHooks(undefined);
    await Promise.all([...this.procs.keys()].map((n) => this.stop(n)));
    this.forget();
    if (this.createdLockDaemonSet) {
      this.createdLockDaemonSet = false;
      const apps = this.cluster.kubeConfig().makeApiClient(AppsV1Api);
      await apps
        .deleteNamespacedDaemonSet({ name: this.opts.dsName, namespace: this.opts.dsNamespace })
        .catch(() => {}); // gone already (a test deleted it): nothing to clean
    }
  }

  /** The pid of the node's running agent. */
  pid(node: string): number | undefined {
    return this.procs.get(node)?.pid;
  }

  running(node: string): boolean {
    return this.procs.has(node);
  }

  /** The agent's log lines for the node (JSON lines), across restarts. */
  log(node: string): string[] {
    return this.logs.get(node) ?? [];
  }

  /** Log messages (the `msg` field) of the node's agent. */
  messages(node: string): string[] {
    return this.log(node).flatMap((l) => {
      try {
        return [String((JSON.parse(l) as { msg?: unknown }).msg)];
      } catch {
        return [l];
      }
    });
  }
}
