/**
 * One chaos run: a testbed cluster, its fleet of agents, workloads, nodes that keep needing reboots,
 * and faults at random (seeded) for a fault period per setting; then a settle period and the end
 * checks. The invariants are checked throughout (checker.ts). See docs/reliability.md.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { CYCLE_ANNOTATION } from '../../src/core/cycle.ts';
import { liveEntries, parseLock } from '../../src/core/lock/codec.ts';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster, ZONE_LABEL } from '../../testbed/src/index.ts';
import { ChaosAgents } from './agents.ts';
import { InvariantChecker, type Violation } from './checker.ts';
import { FAULT_KINDS, FaultInjector, type FaultKind } from './faults.ts';
import { Rng } from './rng.ts';
import {
  APPS_NAMESPACE,
  type Budget,
  createLockDaemonSet,
  createWorkloads,
  type LockDaemonSetSpec,
  SlowExits,
} from './workloads.ts';

const LOCK = { namespace: 'kube-system', name: 'kured', annotation: 'weave.works/kured-node-lock' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface Setting {
  /** The agents' --concurrency. */
  concurrency: number;
  /** The agents' --max-zones (0: none). */
  maxZones: number;
  /** What the checker allows; the self-test sets it below the agents' concurrency. */
  checkConcurrency?: number;
}

export interface ChaosOptions {
  nodes: number;
  seed: number;
  /** Fault period per setting. */
  faultMs: number;
  settings: Setting[];
  /** Mean time between two faults. */
  faultIntervalMs: number;
  /** How many agents run as the bundle in their own process. */
  processAgents: number;
  /** How long the end may take to settle before it is a failure. */
  settleTimeoutMs: number;
  /** Fault kinds not injected. */
  skip?: FaultKind[];
  /** No faults (the self-test: the checker alone must see the breach). */
  noFaults?: boolean;
  rebootDelayMs?: number;
  log?: (line: string) => void;
}

export interface PhaseReport {
  setting: string;
  faults: Record<FaultKind, number>;
  faultTotal: number;
  faultErrors: string[];
  reboots: number;
  violations: Violation[];
  endFailures: string[];
  longestWaitMs: number;
  settleMs: number | undefined;
  maxDisrupted: number;
  maxZones: number;
  agentErrors: number;
}

export interface ChaosReport {
  seed: number;
  skipped: FaultKind[];
  nodes: number;
  phases: PhaseReport[];
  load: { mean: number; max: number };
  wallMs: number;
}

export function label(s: Setting): string {
  return `c=${s.concurrency}${s.maxZones ? ` max-zones=${s.maxZones}` : ''}${s.checkConcurrency !== undefined ? ` (checked as c=${s.checkConcurrency})` : ''}`;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((l: string) => console.log(l));
  const started = Date.now();
  const loads: number[] = [];
  const loadTimer = setInterval(() => loads.push(loadavg()[0]!), 5000);
  // A directory of its own: two runs at once (make chaos beside make test) must not share one.
  const dir = mkdtempSync(join(tmpdir(), 'kured-ts-chaos-'));
  log(`chaos: seed ${o.seed}, ${o.nodes} nodes, logs in ${dir}`);
  const cluster = await startCluster({ nodes: o.nodes, rebootDelayMs: o.rebootDelayMs ?? 2000, log });
  const phases: PhaseReport[] = [];
  let slowExits: SlowExits | undefined;
  try {
    const kc = cluster.kubeConfig();
    const token = await agentIdentity(cluster);
    const rng = new Rng(o.seed);
    const workloads = new SlowExits(kc, rng);
    slowExits = workloads;
    const budgets = await createWorkloads(cluster, o.nodes);
    for (const setting of o.settings) {
      phases.push(
        await runPhase(
          cluster,
          kc,
          token,
          budgets,
          workloads,
          rng,
          setting,
          o,
          join(dir, `c${setting.concurrency}`),
          log,
        ),
      );
    }
  } finally {
    clearInterval(loadTimer);
    slowExits?.stop();
    await cluster.stop();
  }
  const s = loads.length ? loads : [loadavg()[0]!];
  return {
    seed: o.seed,
    skipped: o.skip ?? [],
    nodes: o.nodes,
    phases,
    load: { mean: s.reduce((a, b) => a + b, 0) / s.length, max: Math.max(...s) },
    wallMs: Date.now() - started,
  };
}

async function runPhase(
  cluster: Cluster,
  kc: ReturnType<Cluster['kubeConfig']>,
  token: string,
  budgets: Budget[],
  workloads: SlowExits,
  rng: Rng,
  setting: Setting,
  o: ChaosOptions,
  dir: string,
  log: (l: string) => void,
): Promise<PhaseReport> {
  log(`\n--- ${label(setting)}: ${Math.round(o.faultMs / 1000)} s of faults ---`);
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const c = setting.concurrency;
  const zoneArgs = setting.maxZones ? [`--max-zones=${setting.maxZones}`] : [];
  const agentArgs = [
    '--period=1m',
    `--concurrency=${c}`,
    ...zoneArgs,
    '--lock-ttl=1h',
    '--drain-timeout=2m',
    '--post-reboot-timeout=10m',
  ];
  const lockDs: LockDaemonSetSpec = {
    namespace: LOCK.namespace,
    name: LOCK.name,
    args: [`--ds-namespace=${LOCK.namespace}`, `--ds-name=${LOCK.name}`, ...agentArgs],
  };
  const apps = kc.makeApiClient(AppsV1Api);
  await apps.deleteNamespacedDaemonSet({ name: LOCK.name, namespace: LOCK.namespace }).catch(() => {});
  await waitGone(apps);
  await createLockDaemonSet(kc, lockDs);
  // Flags of the chart's DaemonSet (host paths of each simulated node), without its reboot command.
  const fleet = new Fleet(cluster, { args: agentArgs });
  const checker = new InvariantChecker(kc, {
    lock: LOCK,
    zoneLabel: ZONE_LABEL,
    concurrency: setting.checkConcurrency ?? c,
    maxZones: setting.maxZones,
    t0,
    log,
  });
  const processNodes = new Set(cluster.nodes.slice(-o.processAgents));
  const agents = new ChaosAgents({
    server: cluster.server,
    caFile: cluster.caFile,
    token,
    args: (node) => fleet.args(node).filter((a) => !a.startsWith('--reboot-command=')),
    rebootCommand: (node) => cluster.rebootCommand(node),
    processNodes,
    dir,
  });
  const rebooting = new Set<string>();
  const eligibleAt = new Map<string, number>();
  const onStart = (node: string) => {
    rebooting.add(node);
    checker.onReboot(node);
  };
  const onDone = (node: string) => {
    rebooting.delete(node);
    // The node's sentinel comes back a random while after its reboot: rollouts never stop.
    eligibleAt.set(node, Date.now() + rng.int(20_000, 120_000));
  };
  const onError = (node: string, message: string) => log(`  (testbed: ${node}: ${message})`);
  cluster.events.on('reboot:start', onStart);
  cluster.events.on('reboot:done', onDone);
  cluster.events.on('reboot:error', onError);
  cluster.setAgentHooks({ stop: (n) => agents.kill(n), start: (n) => agents.start(n) });
  const faults = new FaultInjector({
    cluster,
    kc,
    agents,
    checker,
    rng,
    lockDs,
    lockAnnotation: LOCK.annotation,
    budgets,
    t0,
    rebooting,
    skip: new Set(o.skip ?? []),
    workloadPods: (node) => workloads.podsOn(node),
    log,
  });
  checker.context = () => faults.recent(180_000);
  try {
    await checker.start();
    await Promise.all(cluster.nodes.map((n) => agents.start(n)));
    // Needs: about 2c + 1 open at once, on nodes whose last reboot was a random while ago.
    const target = o.noFaults ? 2 * c + 2 : 2 * c + 1;
    const needLoop = async (until: number) => {
      while (Date.now() < until) {
        if (checker.needs.size < target) {
          const now = Date.now();
          const node = rng.pick(
            cluster.nodes.filter(
              (n) => !checker.needs.has(n) && !rebooting.has(n) && (eligibleAt.get(n) ?? 0) <= now,
            ),
          );
          if (node) {
            checker.openNeed(node);
            cluster.requireReboot(node);
          }
        }
        await sleep(500);
      }
    };
    const faultEnd = Date.now() + o.faultMs;
    const needs = needLoop(faultEnd);
    if (!o.noFaults) {
      await sleep(Math.min(10_000, o.faultMs / 10));
      while (Date.now() < faultEnd) {
        faults.injectOne();
        // Exponential gaps: faults at random times, about faultIntervalMs apart.
        const gap = -Math.log(1 - rng.next()) * o.faultIntervalMs;
        await sleep(Math.min(gap, Math.max(0, faultEnd - Date.now())));
      }
    }
    await needs;
    log(
      `  fault period over at +${((Date.now() - t0) / 1000).toFixed(0)} s: ${faults.total} faults; undoing lasting ones`,
    );
    await faults.end();
    for (const n of cluster.nodes) agents.heal(n);
    const openAtEnd = new Set(checker.needs.keys());
    const longestOpen = checker.longestOpenWait();
    const settleStart = Date.now();
    const settled = await settle(cluster, kc, agents, checker, openAtEnd, o.settleTimeoutMs);
    const settleMs = settled.ok ? Date.now() - settleStart : undefined;
    log(
      settled.ok
        ? `  settled in ${((settleMs ?? 0) / 1000).toFixed(1)} s (${openAtEnd.size} needs open at the end of the fault period)`
        : `  NOT settled after ${o.settleTimeoutMs / 1000} s: ${settled.failures.join('; ')}`,
    );
    await sleep(3000); // a late second reboot or a late breach would show now
    const report: PhaseReport = {
      setting: label(setting),
      faults: { ...faults.counts },
      faultTotal: faults.total,
      faultErrors: faults.errors,
      reboots: checker.reboots,
      violations: [...checker.violations],
      endFailures: settled.ok ? [] : settled.failures,
      longestWaitMs: Math.max(longestOpen, ...checker.waits),
      settleMs,
      maxDisrupted: checker.maxDisrupted,
      maxZones: checker.maxZonesSeen,
      agentErrors: agents.errorCount,
    };
    return report;
  } finally {
    cluster.events.off('reboot:start', onStart);
    cluster.events.off('reboot:done', onDone);
    cluster.events.off('reboot:error', onError);
    cluster.setAgentHooks(undefined);
    await faults.end();
    await agents.stopAll();
    checker.stop();
    // The operator's cordons end with the phase.
    const core = kc.makeApiClient(CoreV1Api);
    for (const n of checker.operatorCordoned.keys())
      await core.patchNode({ name: n, body: { spec: { unschedulable: false } } }, mergePatch).catch(() => {});
    for (const n of cluster.nodes) rmSync(cluster.sentinelPath(n), { force: true });
  }
}

/** Every end condition, polled until all hold (or the timeout): what is still wrong, if anything. */
async function settle(
  cluster: Cluster,
  kc: ReturnType<Cluster['kubeConfig']>,
  agents: ChaosAgents,
  checker: InvariantChecker,
  openAtEnd: ReadonlySet<string>,
  timeoutMs: number,
): Promise<{ ok: boolean; failures: string[] }> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const deadline = Date.now() + timeoutMs;
  let failures: string[] = [];
  while (Date.now() < deadline) {
    failures = [];
    try {
      const nodes = (await core.listNode()).items;
      const names = new Set(nodes.map((n) => n.metadata?.name));
      const missing = cluster.nodes.filter((n) => !names.has(n));
      if (missing.length) failures.push(`Nodes missing: ${missing.join(', ')}`);
      const notReady = nodes.filter(
        (n) => !n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
      );
      if (notReady.length) failures.push(`not Ready: ${notReady.map((n) => n.metadata?.name).join(', ')}`);
      const cordoned = nodes.filter(
        (n) => n.spec?.unschedulable && !checker.operatorCordoned.has(n.metadata?.name ?? ''),
      );
      if (cordoned.length) failures.push(`cordoned: ${cordoned.map((n) => n.metadata?.name).join(', ')}`);
      const operatorLost = [...checker.operatorCordoned.keys()].filter((n) =>
        nodes.some((x) => x.metadata?.name === n && !x.spec?.unschedulable),
      );
      if (operatorLost.length) failures.push(`operator cordon lost: ${operatorLost.join(', ')}`);
      const cycles = nodes.filter((n) => n.metadata?.annotations?.[CYCLE_ANNOTATION] !== undefined);
      if (cycles.length)
        failures.push(
          `cycle annotation left: ${cycles.map((n) => `${n.metadata?.name}=${n.metadata?.annotations?.[CYCLE_ANNOTATION]}`).join(', ')}`,
        );
      const ds = await apps.readNamespacedDaemonSet({ name: LOCK.name, namespace: LOCK.namespace });
      const raw = ds.metadata?.annotations?.[LOCK.annotation];
      const holders = liveEntries(parseLock(raw), new Date());
      if (holders.length || parseLock(raw).form === 'malformed' || parseLock(raw).form === 'manual')
        failures.push(`lock not empty: ${raw}`);
      const unserved = [...openAtEnd].filter((n) => checker.needs.has(n));
      if (unserved.length) failures.push(`needs not served: ${unserved.join(', ')}`);
      const down = cluster.nodes.filter((n) => !agents.running(n));
      if (down.length) failures.push(`agents not running: ${down.join(', ')}`);
      // A pod bound to a node runs there (its kubelet runs it): one left Pending keeps its budget short.
      const stuck = (await core.listNamespacedPod({ namespace: APPS_NAMESPACE })).items.filter(
        (p) => p.spec?.nodeName && !p.metadata?.deletionTimestamp && p.status?.phase !== 'Running',
      );
      if (stuck.length)
        failures.push(
          `workload pods not running: ${stuck.map((p) => `${p.metadata?.name} on ${p.spec?.nodeName} (${p.status?.phase})`).join(', ')}`,
        );
    } catch (err) {
      failures.push(`cannot read the cluster: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (failures.length === 0) return { ok: true, failures };
    await sleep(1000);
  }
  return { ok: false, failures };
}

async function waitGone(apps: AppsV1Api): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      await apps.readNamespacedDaemonSet({ name: LOCK.name, namespace: LOCK.namespace });
    } catch {
      return;
    }
    await sleep(200);
  }
}

/** The agents' ServiceAccount token (cluster-admin: this proves behaviour; the RBAC e2e proves grants). */
async function agentIdentity(cluster: Cluster): Promise<string> {
  await cluster
    .kubeConfig()
    .makeApiClient(RbacAuthorizationV1Api)
    .createClusterRoleBinding({
      body: {
        metadata: { name: 'chaos-agents' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'kube-system' }],
      },
    });
  return cluster.serviceAccountToken('kube-system', 'default', 6 * 3600);
}

/** The report, as printed by bench/chaos.ts and kept in docs/reliability.md. */
export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  const total = (k: FaultKind) => r.phases.reduce((s, p) => s + p.faults[k], 0);
  const faultTotal = r.phases.reduce((s, p) => s + p.faultTotal, 0);
  lines.push(
    `\n=== chaos report: seed ${r.seed}, ${r.nodes} nodes, ${(r.wallMs / 60_000).toFixed(1)} min ===`,
  );
  lines.push(
    `faults injected: ${faultTotal}${r.skipped.length ? ` (not injected: ${r.skipped.join(', ')})` : ''}`,
  );
  for (const k of FAULT_KINDS) lines.push(`  ${k.padEnd(24)} ${total(k)}`);
  for (const p of r.phases) {
    lines.push(`${p.setting}:`);
    lines.push(
      `  faults ${p.faultTotal}, reboots ${p.reboots}, max disrupted ${p.maxDisrupted}, max zones ${p.maxZones}`,
    );
    lines.push(
      `  longest wait of a need ${(p.longestWaitMs / 1000).toFixed(1)} s; settle ${p.settleMs === undefined ? 'NOT reached' : `${(p.settleMs / 1000).toFixed(1)} s`}`,
    );
    lines.push(`  violations: ${p.violations.length}`);
    for (const v of p.violations)
      lines.push(`    ${new Date(v.at).toISOString()} ${v.invariant}: ${v.evidence}`);
    for (const f of p.endFailures) lines.push(`  end check failed: ${f}`);
    if (p.faultErrors.length)
      lines.push(
        `  faults that failed to apply or undo: ${p.faultErrors.length} (first: ${p.faultErrors[0]})`,
      );
    lines.push(`  agent error log lines: ${p.agentErrors}`);
  }
  lines.push(
    `load average (1 min) during the run: mean ${r.load.mean.toFixed(1)}, max ${r.load.max.toFixed(1)}`,
  );
  return lines.join('\n');
}
