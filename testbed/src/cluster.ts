import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type StaticToken, startApiServer, waitApiServer, writeTokenFile } from './apiserver.ts';
import { type Binaries, ensureBinaries } from './build.ts';
import { startControllerManager } from './controller-manager.ts';
import { errorMessage, TestbedError } from './errors.ts';
import { startEtcd, waitEtcd } from './etcd.ts';
import { removeOnExit } from './exit-cleanup.ts';
import { SimulatedHost } from './hosts.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { startKwok } from './kwok.ts';
import { NodeHistory, type NodeObservation } from './node-history.ts';
import { bootIdOf, isReady, nodeManifest, nodeNames } from './nodes.ts';
import { cacheRoot, TEMP_DIR_PREFIX } from './paths.ts';
import { createPki, type Pki } from './pki.ts';
import { PodRestarts } from './pod-restarts.ts';
import { withFreshPorts } from './ports.ts';
import { type Component, logTail } from './process.ts';
import { type AgentHooks, RebootSimulator } from './reboot.ts';
import { type NodeLiveness, scaledTimeoutMs } from './scale.ts';
import { startScheduler } from './scheduler.ts';
import { cleanupStaleClusters, removeClusterDir, writeDirState } from './stale.ts';
import { pollUntil } from './wait.ts';

export interface StartClusterOptions {
  /** Number of simulated nodes (default 5). */
  nodes?: number;
  /** How long a rebooting node stays NotReady (default 3000 ms). */
  rebootDelayMs?: number;
  /** Node names are `<prefix>-1` … `<prefix>-N` (default `node`). */
  namePrefix?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** kwok's Lease and heartbeat intervals (default: a kubelet's; see scale.ts for benchmarks at scale). */
  liveness?: NodeLiveness;
}

/** Every node Ready, the default ServiceAccounts made: 60 s up to 100 nodes, 60 ms more per node beyond. */
const startTimeoutMs = (nodes: number) => scaledTimeoutMs(60_000, nodes, 60);
/** Nodes created at once: thousands in one burst would meet the API server's in-flight limit (429). */
const CREATE_PARALLELISM = 50;

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on loopback, with N simulated nodes,
 * and resolves once every node is Ready. Cleans up what killed runs left behind first.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const count = opts.nodes ?? 5;
  if (!Number.isInteger(count) || count < 1) {
    throw new TestbedError(`testbed: the number of nodes must be a whole number >= 1, got ${count}`);
  }
  cleanupStaleClusters(log);
  const bins = await ensureBinaries(log);
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), TEMP_DIR_PREFIX));
  fs.mkdirSync(path.join(dir, 'logs'));
  const components: Component[] = [];
  writeDirState(dir, {});
  const forget = removeOnExit({ dir, pgids: () => components.map((c) => c.pid) });
  const track = (c: Component) => {
    components.push(c);
    writeDirState(dir, Object.fromEntries(components.map((x) => [x.name, x.pid])));
    return c;
  };
  try {
    const cluster = await boot(dir, bins, track, {
      count,
      rebootDelayMs: opts.rebootDelayMs ?? 3000,
      namePrefix: opts.namePrefix ?? 'node',
      ...(opts.liveness ? { liveness: opts.liveness } : {}),
      log,
      components,
      forget,
    });
    cluster.startupMs = Date.now() - started;
    const nodes = `${count} node${count === 1 ? '' : 's'}`;
    log(
      `testbed: cluster ready with ${nodes} in ${(cluster.startupMs / 1000).toFixed(1)}s (${cluster.server})`,
    );
    return cluster;
  } catch (err) {
    await Promise.allSettled(components.map((c) => c.stop(500)));
    // The temp dir goes; its logs are what explains the failure.
    const kept = path.join(cacheRoot(), 'last-failed-start');
    fs.rmSync(kept, { recursive: true, force: true });
    fs.cpSync(path.join(dir, 'logs'), kept, { recursive: true });
    removeClusterDir(dir);
    forget();
    if (err instanceof TestbedError) throw err;
    throw new TestbedError(
      `${errorMessage(err).replace(/^(testbed: )?/, 'testbed: ')}\n  (all logs: ${kept})`,
    );
  }
}

interface BootOptions {
  count: number;
  rebootDelayMs: number;
  namePrefix: string;
  liveness?: NodeLiveness;
  log: (line: string) => void;
  components: Component[];
  forget: () => void;
}

async function boot(
  dir: string,
  bins: Binaries,
  track: (c: Component) => Component,
  o: BootOptions,
): Promise<Cluster> {
  const pki = await createPki(path.join(dir, 'pki'));
  const token = (user: string, groups: string[]): StaticToken => ({
    token: randomBytes(24).toString('hex'),
    user,
    groups,
  });
  const admin = token('testbed-admin', ['system:masters']);
  // The components' own identities, bound by the RBAC the API server bootstraps (kwok plays every
  // kubelet and needs more than system:node allows one kubelet).
  const kcmUser = token('system:kube-controller-manager', []);
  const schedulerUser = token('system:kube-scheduler', []);
  const kwokUser = token('kwok', ['system:masters']);
  const tokenFile = path.join(dir, 'tokens.csv');
  writeTokenFile(tokenFile, [admin, kcmUser, schedulerUser, kwokUser]);

  const etcd = await withFreshPorts(
    () => startEtcd(bins.etcd, dir),
    track,
    (e) => waitEtcd(e),
  );
  const api = await withFreshPorts(
    () => startApiServer(bins.kubeApiserver, dir, { etcdUrl: etcd.url, pki, tokenFile }),
    track,
    (a) => waitApiServer(a, { pki, token: admin.token, etcd }),
  );

  const kubeconfigFor = (t: StaticToken, file: string) => {
    const p = path.join(dir, file);
    writeKubeconfig(p, { server: api.server, caFile: pki.caFile, token: t.token, user: t.user });
    return p;
  };
  const adminKubeconfig = kubeconfigFor(admin, 'admin.kubeconfig');
  const kcm = track(
    startControllerManager(bins.kubeControllerManager, dir, {
      kubeconfig: kubeconfigFor(kcmUser, 'kube-controller-manager.kubeconfig'),
      pki,
      nodes: o.count,
    }),
  );
  const scheduler = track(
    startScheduler(bins.kubeScheduler, dir, {
      kubeconfig: kubeconfigFor(schedulerUser, 'kube-scheduler.kubeconfig'),
      nodes: o.count,
    }),
  );
  const kwok = track(
    startKwok(bins.kwok, dir, {
      kubeconfig: kubeconfigFor(kwokUser, 'kwok.kubeconfig'),
      stages: bins.kwokStages,
      ...(o.liveness ? { liveness: o.liveness } : {}),
    }),
  );

  const kc = new KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const names = nodeNames(o.namePrefix, o.count);
  for (let i = 0; i < names.length; i += CREATE_PARALLELISM) {
    await Promise.all(
      names
        .slice(i, i + CREATE_PARALLELISM)
        .map((name, j) => core.createNode({ body: nodeManifest(name, i + j) })),
    );
  }

  const cluster = new Cluster({
    dir,
    server: api.server,
    pki,
    adminToken: admin.token,
    kubeconfigPath: adminKubeconfig,
    nodes: names,
    rebootDelayMs: o.rebootDelayMs,
    components: o.components,
    forget: o.forget,
  });
  for (const host of cluster.hosts.values())
    track(host.startInit(() => cluster.rebooter.rebootInBackground(host.node)));

  const startTimeout = startTimeoutMs(o.count);
  const dead = () => {
    const gone = [kcm, scheduler, kwok].find((c) => c.hasExited());
    return gone && `testbed: ${gone.name} exited during start-up:\n${logTail(gone.logFile)}`;
  };
  await pollUntil(
    async () => {
      const list = await core.listNode();
      return list.items.filter(isReady).length === o.count;
    },
    {
      timeoutMs: startTimeout,
      intervalMs: o.count > 100 ? 1000 : 100,
      describe: () => `testbed: nodes not Ready after ${startTimeout / 1000}s`,
      abort: dead,
    },
  );
  // The ServiceAccount admission plugin refuses pods until the serviceaccount controller made `default`.
  await pollUntil(
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' });
      return true;
    },
    {
      timeoutMs: startTimeout,
      describe: () => `testbed: no default ServiceAccount after ${startTimeout / 1000}s`,
      abort: dead,
    },
  );
  await cluster.history.start();
  return cluster;
}

interface ClusterParts {
  dir: string;
  server: string;
  pki: Pki;
  adminToken: string;
  kubeconfigPath: string;
  nodes: string[];
  rebootDelayMs: number;
  components: Component[];
  forget: () => void;
}

/** A running testbed cluster. See testbed/README.md. */
export class Cluster {
  /** The cluster's temp dir: PKI, kubeconfigs, logs/, hosts/<node>/. */
  readonly dir: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** CA that signed the API server's serving certificate. */
  readonly caFile: string;
  /** Bearer token of a user in system:masters. */
  readonly adminToken: string;
  /** Admin kubeconfig, usable by kubectl (`KUBECONFIG=...`). */
  readonly kubeconfigPath: string;
  /** Names of the simulated nodes. */
  readonly nodes: readonly string[];
  /** Reboot events (see RebootSimulator) and `node` (name, NodeObservation) when a Node's Ready/bootID changes. */
  readonly events = new EventEmitter();
  /** Wall time from start to all nodes Ready. */
  startupMs = 0;

  /** @internal */ readonly hosts = new Map<string, SimulatedHost>();
  /** @internal */ readonly rebooter: RebootSimulator;
  /** @internal */ readonly history: NodeHistory;
  private hooks: AgentHooks | undefined;
  private readonly parts: ClusterParts;
  private stopped: Promise<void> | undefined;
  private tokenCount = 0;

  constructor(parts: ClusterParts) {
    this.parts = parts;
    this.dir = parts.dir;
    this.server = parts.server;
    this.caFile = parts.pki.caFile;
    this.adminToken = parts.adminToken;
    this.kubeconfigPath = parts.kubeconfigPath;
    this.nodes = parts.nodes;
    // Without a listener, an 'error'-named event would throw; ours are namespaced, but be safe.
    this.events.on('error', () => {});
    for (const node of parts.nodes) this.hosts.set(node, new SimulatedHost(parts.dir, node));
    const kc = this.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    this.history = new NodeHistory(kc, this.events);
    this.rebooter = new RebootSimulator({
      core,
      history: this.history,
      hosts: this.hosts,
      delayMs: parts.rebootDelayMs,
      // Back Ready within 30 s, more at a size where kwok has thousands of nodes to play.
      backTimeoutMs: scaledTimeoutMs(30_000, parts.nodes.length, 20),
      events: this.events,
      hooks: () => this.hooks,
      pods: new PodRestarts(core, this.events),
    });
  }

  /** A fresh client configuration for the admin user. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** The node's host filesystem root (what an agent would see as `/` on that host). */
  hostDir(node: string): string {
    return this.host(node).root;
  }

  /** `<hostDir>/var/run/reboot-required`. */
  sentinelPath(node: string): string {
    return this.host(node).sentinelPath;
  }

  /** Writes the node's sentinel file, as unattended-upgrades does. */
  requireReboot(node: string): void {
    this.host(node).requireReboot();
  }

  /** A command line (split on spaces, exec'd without a shell) that reboots the node. */
  rebootCommand(node: string): string {
    return this.host(node).rebootCommand;
  }

  /** Pid of the node's stand-in init: signal 39 (SIGRTMIN+5) to it reboots the node. */
  initPid(node: string): number {
    return this.host(node).initPid;
  }

  /** Registers how to stop and restart the node agents across reboots (undefined: none). */
  setAgentHooks(hooks: AgentHooks | undefined): void {
    this.hooks = hooks;
  }

  /** Reboots the node; resolves once it is Ready again and its agent was restarted. */
  reboot(node: string): Promise<void> {
    this.host(node);
    return this.rebooter.reboot(node, 'call');
  }

  /** How many reboots of the node have started. */
  rebootCount(node: string): number {
    return this.rebooter.count(node);
  }

  /** The node's Ready/NotReady and boot-ID changes as the API server showed them, oldest first. */
  nodeHistory(node: string): NodeObservation[] {
    return this.history.of(node);
  }

  /** The node's current `status.nodeInfo.bootID`. */
  async bootId(node: string): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    return bootIdOf(await core.readNode({ name: node }));
  }

  /** A token for the ServiceAccount from the TokenRequest API (the SA must exist). */
  async serviceAccountToken(namespace: string, name: string, seconds = 3600): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    const res = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: { spec: { expirationSeconds: seconds, audiences: [] } },
    });
    const token = res.status?.token;
    if (!token) throw new Error(`testbed: TokenRequest for ${namespace}/${name} returned no token`);
    return token;
  }

  /** Writes a kubeconfig that authenticates with `token`; returns its path. */
  kubeconfigForToken(token: string, user = 'token-user'): string {
    const file = path.join(this.dir, `${user.replace(/[^\w.-]/g, '_')}-${++this.tokenCount}.kubeconfig`);
    writeKubeconfig(file, { server: this.server, caFile: this.caFile, token, user });
    return file;
  }

  /** Creates a namespace and waits for its `default` ServiceAccount, so pods can be created at once. */
  async createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name, labels } } });
    await pollUntil(
      () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true),
      {
        timeoutMs: scaledTimeoutMs(30_000, this.nodes.length, 20),
        describe: () =>
          `testbed: namespace ${name} got no default ServiceAccount within ${scaledTimeoutMs(30_000, this.nodes.length, 20) / 1000}s`,
      },
    );
  }

  /**
   * A control-plane process by name ('etcd', 'kube-apiserver', 'kube-controller-manager',
   * 'kube-scheduler', 'kwok'), for fault injection: its pid to freeze (SIGSTOP), or restart() for a
   * crash and a cold restart on the same port and data.
   */
  component(name: string): Component {
    const c = this.parts.components.find((x) => x.name === name);
    if (!c) throw new TestbedError(`testbed: no component named ${name}`);
    return c;
  }

  /** Stops every process and removes the temp dir. Safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= this.teardown();
    return this.stopped;
  }

  private async teardown(): Promise<void> {
    this.history.stop();
    await this.rebooter.shutdown();
    await Promise.allSettled([...this.hosts.values()].map((h) => h.stop()));
    const byName = (n: string) => this.parts.components.filter((c) => c.name === n);
    // Clients first, storage last, so nothing logs errors about a vanished API server.
    await Promise.allSettled(
      [...byName('kwok'), ...byName('kube-controller-manager'), ...byName('kube-scheduler')].map((c) =>
        c.stop(),
      ),
    );
    await Promise.allSettled(byName('kube-apiserver').map((c) => c.stop()));
    await Promise.allSettled(this.parts.components.map((c) => c.stop()));
    removeClusterDir(this.dir);
    this.parts.forget();
  }

  private host(node: string): SimulatedHost {
    const host = this.hosts.get(node);
    if (!host)
      throw new TestbedError(`testbed: no simulated node named ${node} (nodes: ${this.nodes.join(', ')})`);
    return host;
  }
}

/** True when `err` is an API error with the given HTTP status. */
export function isApiStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}
