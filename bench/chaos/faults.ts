/**
 * The faults, injected at random times on random targets (seeded), each logged with its time and
 * target. A fault that lasts (a freeze, a partition, a pause...) undoes itself after its duration,
 * or at once when the fault period ends. Faults on the control plane run one at a time, and so do
 * faults on the lock's annotation; the others overlap freely.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { connectOperator } from '../../src/cli/connect.ts';
import { pause, resume } from '../../src/cli/pause.ts';
import { CYCLE_ANNOTATION } from '../../src/core/cycle.ts';
import type { Cluster } from '../../testbed/src/index.ts';
import { nodeManifest } from '../../testbed/src/nodes.ts';
import { rerunPodsOfReregisteredNode } from '../../testbed/src/reregister.ts';
import type { ChaosAgents } from './agents.ts';
import { type InvariantChecker, phaseOf } from './checker.ts';
import type { Rng } from './rng.ts';
import {
  APPS_NAMESPACE,
  type Budget,
  createLockDaemonSet,
  type LockDaemonSetSpec,
  type WorkloadPod,
} from './workloads.ts';

export const FAULT_KINDS = [
  'agent-kill',
  'apiserver-freeze',
  'apiserver-restart',
  'etcd-restart',
  'partition',
  'clock-skew',
  'node-recreate',
  'lock-daemonset-recreate',
  'lock-malformed',
  'lock-hand-edit',
  'pause-resume',
  'operator-cordon',
  'pod-delete-evicting',
  'pdb-zero',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Relative frequency of each kind (the scheduler keeps each kind's count near its share). */
const WEIGHTS: Record<FaultKind, number> = {
  'agent-kill': 30,
  'apiserver-freeze': 4,
  'apiserver-restart': 3,
  'etcd-restart': 3,
  partition: 9,
  'clock-skew': 6,
  'node-recreate': 5,
  'lock-daemonset-recreate': 4,
  'lock-malformed': 4,
  'lock-hand-edit': 4,
  'pause-resume': 4,
  'operator-cordon': 6,
  'pod-delete-evicting': 8,
  'pdb-zero': 5,
};
const CONTROL_PLANE: ReadonlySet<FaultKind> = new Set([
  'apiserver-freeze',
  'apiserver-restart',
  'etcd-restart',
]);
const LOCK: ReadonlySet<FaultKind> = new Set([
  'lock-daemonset-recreate',
  'lock-malformed',
  'lock-hand-edit',
  'pause-resume',
]);

export interface FaultRecord {
  at: number;
  kind: FaultKind;
  target: string;
  detail: string;
}

export interface FaultContext {
  cluster: Cluster;
  kc: KubeConfig;
  agents: ChaosAgents;
  checker: InvariantChecker;
  rng: Rng;
  lockDs: LockDaemonSetSpec;
  lockAnnotation: string;
  budgets: Budget[];
  t0: number;
  /** Nodes whose simulated reboot is under way (the testbed's reboot:start .. reboot:done). */
  rebooting: ReadonlySet<string>;
  /** Kinds not to inject. */
  skip: ReadonlySet<FaultKind>;
  /** The workload pods bound to a node, as the pod watch last showed them. */
  workloadPods: (node: string) => WorkloadPod[];
  /** Fault lines also go here (the run's log). */
  log: (line: string) => void;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * How long a pick of `pod-delete-evicting` waits for a draining node with a workload pod: a drain
 * has pods to delete for a few seconds only (until they have exited), so a pick that looked only
 * at its own moment mostly found none (10 in 21 minutes at c=1, none at c=5).
 */
const EVICTING_WAIT_MS = 90_000;

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Picks per kind (a pick may find no target by the time it runs): what the scheduler balances. */
  private readonly picks = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Faults that could not be undone or failed to apply: said in the report, never hidden. */
  readonly errors: string[] = [];
  private readonly c: FaultContext;
  private readonly ending = new AbortController();
  private readonly tasks = new Set<Promise<void>>();
  private controlPlaneBusy = false;
  private lockBusy = false;
  /** A pick of pod-delete-evicting is waiting for its target: one at a time. */
  private evictingBusy = false;
  private readonly pdbBusy = new Set<string>();
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly policy: PolicyV1Api;

  constructor(c: FaultContext) {
    this.c = c;
    this.core = c.kc.makeApiClient(CoreV1Api);
    this.apps = c.kc.makeApiClient(AppsV1Api);
    this.policy = c.kc.makeApiClient(PolicyV1Api);
  }

  get total(): number {
    return this.records.length;
  }

  /** Injects one fault of a kind that has a target now, the one furthest below its share. */
  injectOne(): boolean {
    const kinds = FAULT_KINDS.filter((k) => !this.c.skip.has(k) && this.available(k));
    if (kinds.length === 0) return false;
    // Stride scheduling with a random tie-break: every kind gets its share, in a seeded random order.
    const kind = kinds
      .map((k) => ({ k, score: (this.picks[k] + 1) / WEIGHTS[k] + (this.c.rng.next() * 0.5) / WEIGHTS[k] }))
      .sort((a, b) => a.score - b.score)[0]!.k;
    this.picks[kind]++;
    const task = this.run(kind).catch((err: unknown) => {
      this.errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      this.c.log(`  fault ${kind} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
    return true;
  }

  /** The faults of the last `ms` (agent kills aside), newest last: the context of a violation. */
  recent(ms: number): string {
    const since = Date.now() - ms;
    return this.records
      .filter((r) => r.at >= since && r.kind !== 'agent-kill')
      .slice(-6)
      .map((r) => `${r.kind} ${r.target} at +${((r.at - this.c.t0) / 1000).toFixed(1)}s`)
      .join(', ');
  }

  /** Ends the fault period: lasting faults are undone now; resolves once all are. */
  async end(): Promise<void> {
    this.ending.abort();
    while (this.tasks.size) await Promise.allSettled([...this.tasks]);
  }

  private record(kind: FaultKind, target: string, detail = ''): void {
    this.counts[kind]++;
    const r: FaultRecord = { at: Date.now(), kind, target, detail };
    this.records.push(r);
    this.c.log(
      `  fault #${this.records.length} +${((r.at - this.c.t0) / 1000).toFixed(1)}s ${kind} ${target}${detail ? ` (${detail})` : ''}`,
    );
  }

  /** Waits `ms`, or less if the fault period ends. */
  private async hold(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.ending.signal }).catch(() => {});
  }

  private nodes(): string[] {
    return [...this.c.cluster.nodes];
  }

  private inCycle(): string[] {
    const ch = this.c.checker;
    return this.nodes().filter((n) => ch.nodes.get(n)?.cycle !== undefined || ch.holders.has(n));
  }

  private draining(): string[] {
    const ch = this.c.checker;
    return this.nodes().filter((n) => phaseOf(ch.nodes.get(n)?.cycle) === 'draining');
  }

  private available(kind: FaultKind): boolean {
    if (CONTROL_PLANE.has(kind)) return !this.controlPlaneBusy;
    if (LOCK.has(kind))
      return !this.lockBusy && (kind !== 'lock-hand-edit' || this.c.checker.lockRaw !== undefined);
    if (kind === 'node-recreate') return this.recreatable().length > 0;
    if (kind === 'pod-delete-evicting') return !this.evictingBusy;
    if (kind === 'pdb-zero') return this.pdbBusy.size < this.c.budgets.length;
    if (kind === 'operator-cordon') return this.idle().length > 0;
    if (kind === 'partition') return this.nodes().filter((n) => this.c.agents.partitioned(n)).length < 3;
    if (kind === 'clock-skew') {
      const cycling = new Set(this.inCycle());
      return this.nodes().some((n) => !this.c.agents.isProcess(n) && !cycling.has(n));
    }
    return true;
  }

  private run(kind: FaultKind): Promise<void> {
    switch (kind) {
      case 'agent-kill':
        return this.agentKill();
      case 'apiserver-freeze':
        return this.controlPlane(kind, () => this.freezeApiServer());
      case 'apiserver-restart':
        return this.controlPlane(kind, () => this.restartComponent(kind, 'kube-apiserver'));
      case 'etcd-restart':
        return this.controlPlane(kind, () => this.restartComponent(kind, 'etcd'));
      case 'partition':
        return this.partition();
      case 'clock-skew':
        return this.clockSkew();
      case 'node-recreate':
        return this.nodeRecreate();
      case 'lock-daemonset-recreate':
        return this.lockFault(() => this.recreateLockDaemonSet());
      case 'lock-malformed':
        return this.lockFault(() => this.malformLock());
      case 'lock-hand-edit':
        return this.lockFault(() => this.handEditLock());
      case 'pause-resume':
        return this.lockFault(() => this.pauseResume());
      case 'operator-cordon':
        return this.operatorCordon();
      case 'pod-delete-evicting':
        return this.deleteEvictingPod();
      case 'pdb-zero':
        return this.pdbZero();
    }
  }

  /** Mostly a node in its cycle (any phase), else any node; restarted 0-5 s later. */
  private async agentKill(): Promise<void> {
    const { rng, agents, checker } = this.c;
    // Not while its node is down for the reboot: no pod runs there to kill (nor to restart).
    const up = (ns: string[]) => ns.filter((n) => !this.c.rebooting.has(n));
    const cycle = up(this.inCycle());
    const node = (cycle.length && rng.chance(0.7) ? rng.pick(cycle) : rng.pick(up(this.nodes())))!;
    const delay = rng.int(0, 5000);
    const phase = phaseOf(checker.nodes.get(node)?.cycle) ?? (checker.holders.has(node) ? 'holding' : 'idle');
    this.record(
      'agent-kill',
      node,
      `${agents.isProcess(node) ? 'SIGKILL' : 'abandoned'} in phase ${phase}, restart in ${delay} ms`,
    );
    await agents.killAndRestart(node, delay);
  }

  private async controlPlane(kind: FaultKind, act: () => Promise<void>): Promise<void> {
    this.controlPlaneBusy = true;
    try {
      await act();
      await this.apiAnswers(kind);
    } finally {
      this.controlPlaneBusy = false;
    }
  }

  private async freezeApiServer(): Promise<void> {
    const ms = this.c.rng.int(2000, 30_000);
    const pid = this.c.cluster.component('kube-apiserver').pid;
    this.record('apiserver-freeze', 'kube-apiserver', `SIGSTOP for ${ms} ms`);
    process.kill(pid, 'SIGSTOP');
    try {
      await this.hold(ms);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  private async restartComponent(kind: FaultKind, name: string): Promise<void> {
    this.record(kind, name, 'SIGKILL, cold restart');
    await this.c.cluster.component(name).restart();
  }

  /** Back to the API answering; a component that exited meanwhile is restarted, as a static pod would be. */
  private async apiAnswers(kind: FaultKind): Promise<void> {
    const deadline = Date.now() + 180_000;
    for (;;) {
      for (const name of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']) {
        const c = this.c.cluster.component(name);
        if (c.hasExited()) {
          this.c.log(`  (after ${kind}: ${name} had exited; restarted as its static pod would be)`);
          await c.restart();
        }
      }
      try {
        await this.core.listNamespace({ limit: 1 });
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`the API server did not answer within 180 s after ${kind}`);
        await sleep(500);
      }
    }
  }

  /** Mostly a lock holder or a draining node; 10-120 s, its connections dropped and refused. */
  private async partition(): Promise<void> {
    const { rng, agents, checker } = this.c;
    const free = (ns: string[]) => ns.filter((n) => !agents.partitioned(n));
    const holders = free([...checker.holders].filter((n) => this.c.cluster.nodes.includes(n)));
    const draining = free(this.draining());
    const r = rng.next();
    const node = ((r < 0.4 && rng.pick(holders)) ||
      (r < 0.7 && rng.pick(draining)) ||
      rng.pick(free(this.nodes())))!;
    const ms = rng.int(10_000, 120_000);
    const why = holders.includes(node) ? 'lock holder' : draining.includes(node) ? 'draining' : 'any';
    this.record(
      'partition',
      node,
      `${ms} ms, ${why}, phase ${phaseOf(checker.nodes.get(node)?.cycle) ?? 'idle'}`,
    );
    agents.partition(node, ms);
    await this.hold(ms);
    agents.heal(node);
  }

  /** An in-process agent's clock stepped by 1-10 minutes either way, for 30-300 s. */
  /**
   * An agent's clock stepped while its node waits or idles (the lock's `created` and TTL, the
   * windows). The skew ends as the node's cycle begins: from the reboot to the healthy return the
   * agent compares its clock with its kubelet's (pod start times), which on a real node share one
   * clock, while the testbed's kubelets (kwok) keep the host's. Skewing the agent alone there made a
   * rebooted node wait for ever for pods "not yet restarted since the reboot" (seed 2121, CI).
   */
  private async clockSkew(): Promise<void> {
    const { rng, agents, checker } = this.c;
    const cycling = new Set(this.inCycle());
    const free = (ns: string[]) =>
      ns.filter((n) => !agents.isProcess(n) && agents.skewOf(n) === 0 && !cycling.has(n));
    const node = ((rng.chance(0.5) && rng.pick(free([...checker.needs.keys()]))) ||
      rng.pick(free(this.nodes())))!;
    if (!node) return;
    const offset = (rng.chance(0.5) ? 1 : -1) * rng.int(60_000, 600_000);
    const ms = rng.int(30_000, 300_000);
    this.record('clock-skew', node, `${(offset / 60_000).toFixed(1)} min for ${ms} ms`);
    agents.skew(node, offset);
    const until = Date.now() + ms;
    while (Date.now() < until && !this.ending.signal.aborted && !this.inCycle().includes(node))
      await this.hold(Math.min(250, until - Date.now()));
    agents.skew(node, 0);
  }

  private recreatable(): string[] {
    const { checker } = this.c;
    return this.inCycle().filter(
      (n) =>
        !this.c.rebooting.has(n) &&
        !checker.operatorCordoned.has(n) &&
        !checker.recreated.has(n) &&
        checker.nodes.has(n),
    );
  }

  /**
   * A Node in its cycle deleted and registered again by its kubelet: same name, labels and boot ID
   * (the machine did not reboot), but none of the old object's annotations, spec or cordon.
   */
  private async nodeRecreate(): Promise<void> {
    const node = this.c.rng.pick(this.recreatable());
    if (!node) return;
    // Taken at once (before any await), so no second fault picks it meanwhile.
    this.c.checker.recreated.set(node, 'pending');
    try {
      const old = await this.persist(() => this.core.readNode({ name: node }));
      const index = Number(/-(\d+)$/.exec(node)?.[1] ?? 1) - 1;
      const fresh = nodeManifest(node, index);
      fresh.status!.nodeInfo!.bootID = old.status?.nodeInfo?.bootID ?? fresh.status!.nodeInfo!.bootID;
      this.record(
        'node-recreate',
        node,
        `phase ${phaseOf(old.metadata?.annotations?.[CYCLE_ANNOTATION]) ?? 'holding'}`,
      );
      await this.persist(() => this.core.deleteNode({ name: node }));
      await this.hold(this.c.rng.int(0, 3000));
      await this.persist(() => this.core.createNode({ body: fresh }));
    } catch (err) {
      this.c.checker.recreated.delete(node);
      throw err;
    }
    // The kubelet registered again runs the pods bound to its node; kwok may not (seed 2112, 100
    // nodes: a web and an api pod Pending on node-33 for good, the web budget at 0, a need never
    // served): testbed/src/reregister.ts hands them to it again.
    const rerun = await rerunPodsOfReregisteredNode(this.c.kc, this.core, node);
    if (rerun > 0) this.c.log(`  (node-recreate ${node}: ${rerun} Pending pod(s) handed to kwok again)`);
  }

  private async lockFault(act: () => Promise<void>): Promise<void> {
    this.lockBusy = true;
    try {
      await act();
    } finally {
      this.lockBusy = false;
    }
  }

  /** `helm uninstall` and `install` during a rollout: the DaemonSet and its annotations gone, then back empty. */
  private async recreateLockDaemonSet(): Promise<void> {
    const { name, namespace } = this.c.lockDs;
    const gap = this.c.rng.int(0, 5000);
    this.record(
      'lock-daemonset-recreate',
      `${namespace}/${name}`,
      `lock was ${this.c.checker.lockRaw ?? 'empty'}; recreated ${gap} ms after it is gone`,
    );
    await this.apps.deleteNamespacedDaemonSet({ name, namespace });
    for (;;) {
      try {
        await this.apps.readNamespacedDaemonSet({ name, namespace });
        await sleep(200);
      } catch {
        break;
      }
    }
    await sleep(gap);
    await this.persist(() => createLockDaemonSet(this.c.kc, this.c.lockDs));
  }

  /** Garbage in the lock annotation for 5-30 s; then the operator puts back what was there. */
  private async malformLock(): Promise<void> {
    const { rng, checker } = this.c;
    const { name, namespace } = this.c.lockDs;
    const garbage = rng.pick([
      '{"nodeID":',
      'not json',
      '{"maxOwners":"two","locks":[]}',
      '{"locks":{"nodeID":"x"}}',
      '[1,2,3]',
    ])!;
    const ms = rng.int(5000, 30_000);
    // Written only over the value read (resourceVersion): restoring it later loses no agent's write.
    let before: string | undefined;
    for (;;) {
      const ds = await this.persist(() => this.apps.readNamespacedDaemonSet({ name, namespace }));
      before = ds.metadata?.annotations?.[this.c.lockAnnotation];
      const ok = await this.apps
        .patchNamespacedDaemonSet(
          {
            name,
            namespace,
            body: {
              metadata: {
                resourceVersion: ds.metadata?.resourceVersion,
                annotations: { [this.c.lockAnnotation]: garbage },
              },
            },
          },
          mergePatch,
        )
        .then(
          () => true,
          () => false,
        );
      if (ok) break;
      await sleep(200);
    }
    checker.malformed = garbage;
    this.record(
      'lock-malformed',
      'lock annotation',
      `${JSON.stringify(garbage)} for ${ms} ms (was ${before ?? 'empty'})`,
    );
    await this.hold(ms);
    checker.restoring = { value: before };
    await this.annotate(before ?? null);
  }

  /** The operator re-indents the lock's JSON with kubectl edit: the same lock, other bytes. */
  private async handEditLock(): Promise<void> {
    const { name, namespace } = this.c.lockDs;
    const ds = await this.persist(() => this.apps.readNamespacedDaemonSet({ name, namespace }));
    const raw = ds.metadata?.annotations?.[this.c.lockAnnotation];
    if (raw === undefined) return;
    let edited: string;
    try {
      edited = JSON.stringify(JSON.parse(raw), null, 2);
    } catch {
      return;
    }
    this.record('lock-hand-edit', 'lock annotation', `re-indented: ${JSON.stringify(JSON.parse(raw))}`);
    await this.apps
      .patchNamespacedDaemonSet(
        {
          name,
          namespace,
          body: {
            metadata: {
              resourceVersion: ds.metadata?.resourceVersion,
              annotations: { [this.c.lockAnnotation]: edited },
            },
          },
        },
        mergePatch,
      )
      .catch(() => {}); // an agent wrote meanwhile: the edit lost the race, as kubectl edit would
  }

  private async pauseResume(): Promise<void> {
    const o = {
      kubeconfig: this.c.cluster.kubeconfigPath,
      namespace: this.c.lockDs.namespace,
      dsName: this.c.lockDs.name,
    };
    const clients = connectOperator(o);
    const ms = this.c.rng.int(10_000, 60_000);
    this.record('pause-resume', 'fleet', `paused for ${ms} ms`);
    await this.persist(() => pause(clients, o, 'chaos'));
    await this.hold(ms);
    await this.persist(() => resume(clients, o));
  }

  private idle(): string[] {
    const { checker, agents } = this.c;
    return this.nodes().filter((n) => {
      const s = checker.nodes.get(n);
      return (
        s?.ready &&
        !s.cordoned &&
        s.cycle === undefined &&
        !checker.holders.has(n) &&
        !checker.needs.has(n) &&
        !checker.recreated.has(n) &&
        agents.running(n)
      );
    });
  }

  /** An operator cordons an idle node for 30-180 s: no agent may uncordon it. */
  private async operatorCordon(): Promise<void> {
    const { rng, checker } = this.c;
    const node = rng.pick(this.idle());
    if (!node) return;
    const ms = rng.int(30_000, 180_000);
    this.record('operator-cordon', node, `for ${ms} ms`);
    checker.operatorCordoned.set(node, 'sent');
    try {
      await this.persist(() =>
        this.core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, mergePatch),
      );
    } catch (err) {
      // Never cordoned: the claim must go, or the node's next cordon by its agent would pass for the
      // operator's, and its uncordon for an operator's cordon undone (seed 2207 counted eight so).
      checker.operatorCordoned.delete(node);
      throw err;
    }
    await this.hold(ms);
    // At the end of the fault period the operator's cordons stay: the end check expects them.
    if (this.ending.signal.aborted) return;
    checker.releaseOperatorCordon(node);
    await this.persist(() =>
      this.core.patchNode({ name: node, body: { spec: { unschedulable: false } } }, mergePatch),
    );
  }

  /** Workload pods on draining nodes, as the watches last showed them. */
  private evictingTargets(): { node: string; pod: WorkloadPod }[] {
    return this.draining().flatMap((node) => this.c.workloadPods(node).map((pod) => ({ node, pod })));
  }

  /**
   * A pod of a draining node deleted by someone else: at once if it is already terminating. The
   * pick waits, watching, for a drain with a workload pod (up to EVICTING_WAIT_MS), and takes it as
   * soon as it shows.
   */
  private async deleteEvictingPod(): Promise<void> {
    this.evictingBusy = true;
    try {
      const deadline = Date.now() + EVICTING_WAIT_MS;
      let targets = this.evictingTargets();
      while (targets.length === 0 && Date.now() < deadline && !this.ending.signal.aborted) {
        await this.hold(100);
        targets = this.evictingTargets();
      }
      const target = this.c.rng.pick(targets);
      if (!target) return;
      const { node, pod } = target;
      this.record(
        'pod-delete-evicting',
        `${APPS_NAMESPACE}/${pod.name}`,
        `on ${node}, ${pod.terminating ? 'terminating: deleted with grace 0' : 'not yet evicted: deleted'}`,
      );
      await this.core
        .deleteNamespacedPod({
          name: pod.name,
          namespace: APPS_NAMESPACE,
          ...(pod.terminating ? { gracePeriodSeconds: 0 } : {}),
        })
        .catch(() => {}); // gone already: the eviction won the race
    } finally {
      this.evictingBusy = false;
    }
  }

  /** A budget tightened to allow no disruption for 10-60 s, then relaxed. */
  private async pdbZero(): Promise<void> {
    const b = this.c.rng.pick(this.c.budgets.filter((x) => !this.pdbBusy.has(x.name)));
    if (!b) return;
    this.pdbBusy.add(b.name);
    try {
      const ms = this.c.rng.int(10_000, 60_000);
      this.record('pdb-zero', `${APPS_NAMESPACE}/${b.name}`, `maxUnavailable 0 for ${ms} ms`);
      await this.persist(() => this.patchBudget(b.name, { maxUnavailable: 0, minAvailable: null }));
      await this.hold(ms);
      await this.persist(() =>
        this.patchBudget(b.name, {
          maxUnavailable: b.spec.maxUnavailable ?? null,
          minAvailable: b.spec.minAvailable ?? null,
        }),
      );
    } finally {
      this.pdbBusy.delete(b.name);
    }
  }

  private patchBudget(name: string, spec: Record<string, unknown>): Promise<unknown> {
    return this.policy.patchNamespacedPodDisruptionBudget(
      { name, namespace: APPS_NAMESPACE, body: { spec } },
      mergePatch,
    );
  }

  private annotate(value: string | null): Promise<unknown> {
    const { name, namespace } = this.c.lockDs;
    return this.persist(() =>
      this.apps.patchNamespacedDaemonSet(
        { name, namespace, body: { metadata: { annotations: { [this.c.lockAnnotation]: value } } } },
        mergePatch,
      ),
    );
  }

  /** The operator's write, retried while the control plane is down (another fault may be under way). */
  private async persist<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 180_000;
    for (;;) {
      try {
        return await write();
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (
          (typeof code === 'number' && code >= 400 && code < 500 && code !== 429 && !starting(err)) ||
          Date.now() > deadline
        )
          throw err;
        await sleep(500);
      }
    }
  }
}

/**
 * kube-apiserver answers 403 "not yet ready to handle request" while it starts (its RBAC is not
 * loaded yet): a restart's moment, not a refusal.
 */
function starting(err: unknown): boolean {
  const { body, message } = err as { body?: unknown; message?: unknown };
  return `${String(message)} ${JSON.stringify(body ?? '')}`.includes('not yet ready to handle request');
}
