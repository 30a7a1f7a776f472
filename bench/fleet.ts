/**
 * The fleet at scale (issue 8): 30 and 100 simulated nodes, each with its own agent, 20 of them
 * needing a reboot, at --concurrency=1, --concurrency=3 and --concurrency=5 --max-zones=1.
 *
 * Checks (a failure exits 1): never more than c nodes disrupted (cordoned or not Ready), never more
 * zones than allowed, each needed reboot exactly once, nodes not needing one never cordoned, all
 * uncordoned and the lock empty at the end. Figures (printed against the issue's targets, never a
 * failure): rollout time against ceil(K/c) x one node's cycle (zone by zone under the zone rule)
 * and against the sum of those waves, each wave size measured alone (c cycles at once are slower
 * than one on this shared machine),
 * hand-over latency, API requests, lock writes and 409s per hand-over (counted by kube-apiserver),
 * idle requests, watches and CPU per agent.
 *
 * The agents run in this process, built by wireAgent with their own clients (see support/agents.ts),
 * except the last node's, which is the bundle run as the image runs it: its memory and CPU are the
 * per-agent figures. All agents authenticate as the ServiceAccount kube-system/default, the one
 * identity kube-apiserver counts separately (authenticated_user_requests), so the control plane's
 * and this harness's own requests are not counted as theirs.
 *
 * The agents run at --period=1h (only watches explain speed) and --post-reboot-timeout=0: the healthy
 * wait would add the simulated DaemonSet pod's restart (tens of seconds under load) to every cycle,
 * which says nothing about the coordination measured here (docs/healthy-return.md).
 *
 * Environment: FLEET_NODES (default 30,100), FLEET_REBOOTS (20), FLEET_IDLE_SECONDS (60).
 */

import { mkdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, EventsV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { parseConfig } from '../src/config/parse.ts';
import { ConfigError } from '../src/core/errors.ts';
import { liveEntries, parseLock } from '../src/core/lock/codec.ts';
import { Fleet } from '../testbed/src/fleet.ts';
import { type Cluster, startCluster, ZONE_LABEL } from '../testbed/src/index.ts';
import { InProcessAgents } from './support/agents.ts';
import {
  agentRequests,
  formatVerbs,
  openWatches,
  requestCounts,
  scrape,
} from './support/apiserver-metrics.ts';
import { FleetObserver } from './support/observer.ts';
import { cpuSeconds, formatSpread, rssMb, type Spread, spread } from './support/proc.ts';

const SIZES = (process.env.FLEET_NODES ?? '30,100').split(',').map(Number);
const K = Number(process.env.FLEET_REBOOTS ?? 20);
const IDLE_S = Number(process.env.FLEET_IDLE_SECONDS ?? 60);
const REBOOT_DELAY_MS = 2000;
/** Outside the cluster's temp dir, which goes with the cluster: the agents' logs of the last run. */
const LOG_DIR = join(tmpdir(), 'kured-ts-fleet-bench');
const LOCK = { namespace: 'kube-system', name: 'kured', annotation: 'weave.works/kured-node-lock' };

interface Setting {
  concurrency: number;
  maxZones?: number;
}
const SETTINGS: Setting[] = [{ concurrency: 1 }, { concurrency: 3 }, { concurrency: 5, maxZones: 1 }];
const label = (s: Setting) => `c=${s.concurrency}${s.maxZones ? ` max-zones=${s.maxZones}` : ''}`;

interface Idle {
  requestsPerAgentHour: number;
  watchesPerAgent: number;
  inProcessCpuPct: number;
  realCpuPct: number;
  realRssMb: number;
  breakdown: string;
}
interface Rollout {
  setting: string;
  available: boolean;
  safe?: boolean;
  rolloutMs?: number;
  limitMs?: number;
  /** The limit as the sum of the rollout's waves, each size measured alone at this setting (c > 1). */
  waveLimitMs?: number;
  handover?: Spread;
  requestsPerHandover?: number;
  dsWritesPerHandover?: number;
  conflictsPerHandover?: number;
  events?: number;
  maxDisrupted?: number;
  maxZones?: number;
  load?: string;
}
interface SizeResult {
  nodes: number;
  cycleMs?: number;
  idle?: Idle;
  rollouts: Rollout[];
}

const failures: string[] = [];
function check(ok: boolean, what: string): boolean {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
  return ok;
}

/** Whether this build of the agent knows the flag (it arrives with issue 8's zone rule). */
function agentKnows(flag: string): boolean {
  try {
    parseConfig([flag], { KURED_NODE_ID: 'probe' });
    return true;
  } catch (err) {
    if (err instanceof ConfigError) return false;
    throw err;
  }
}

/** The 1-minute load average, sampled while we wait. */
class LoadSampler {
  private readonly samples: number[] = [];
  private readonly timer = setInterval(() => this.samples.push(loadavg()[0]!), 2000);
  stop(): string {
    clearInterval(this.timer);
    const s = this.samples.length ? this.samples : [loadavg()[0]!];
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    return `load avg (1 min) mean ${mean.toFixed(1)}, max ${Math.max(...s).toFixed(1)}`;
  }
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) {
      console.log(`  timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}`);
      return false;
    }
    await sleep(100);
  }
  return true;
}

async function runSize(nodes: number): Promise<SizeResult> {
  console.log(`\n=== ${nodes} nodes, ${K} needing a reboot (reboot delay ${REBOOT_DELAY_MS} ms) ===`);
  const result: SizeResult = { nodes, rollouts: [] };
  const cluster = await startCluster({ nodes, rebootDelayMs: REBOOT_DELAY_MS });
  const observer = new FleetObserver(cluster.kubeConfig(), LOCK, ZONE_LABEL);
  // The lock's DaemonSet, as the chart makes it (with a pod on every node); it goes with its Fleet.
  const lockOwner = new Fleet(cluster);
  try {
    const kubeconfig = await agentIdentity(cluster);
    await lockOwner.createLockDaemonSet();
    await observer.start();
    const watchesWithoutAgents = openWatches(await scrape(cluster));
    for (const [i, setting] of SETTINGS.entries()) {
      const r = await runSetting(cluster, observer, kubeconfig, setting, {
        first: i === 0,
        result,
        watchesWithoutAgents,
      });
      result.rollouts.push(r);
      if (r.available && r.safe === false) {
        console.log('  (the cluster is not clean after a failed check: the other settings are skipped)');
        break;
      }
    }
  } finally {
    observer.stop();
    await lockOwner.stopAll();
    await cluster.stop();
  }
  return result;
}

/** The agents' ServiceAccount (bound to cluster-admin: this measures cost, the RBAC test proves grants). */
async function agentIdentity(cluster: Cluster): Promise<string> {
  await cluster
    .kubeConfig()
    .makeApiClient(RbacAuthorizationV1Api)
    .createClusterRoleBinding({
      body: {
        metadata: { name: 'fleet-bench-agents' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'kube-system' }],
      },
    });
  const token = await cluster.serviceAccountToken('kube-system', 'default', 4 * 3600);
  return cluster.kubeconfigForToken(token, 'kured-agents');
}

async function runSetting(
  cluster: Cluster,
  observer: FleetObserver,
  kubeconfig: string,
  setting: Setting,
  ctx: { first: boolean; result: SizeResult; watchesWithoutAgents: number },
): Promise<Rollout> {
  const name = label(setting);
  console.log(`\n--- ${name} ---`);
  const zoneFlag = setting.maxZones ? [`--max-zones=${setting.maxZones}`] : [];
  if (zoneFlag.length && !agentKnows(zoneFlag[0]!)) {
    console.log('  not available: this agent has no --max-zones flag');
    return { setting: name, available: false };
  }
  const c = setting.concurrency;
  const all = cluster.nodes;
  const realNode = all.at(-1)!;
  const needing = all.slice(0, K);
  const real = new Fleet(cluster, {
    args: ['--period=1h', '--post-reboot-timeout=0', `--concurrency=${c}`, ...zoneFlag],
    kubeconfig,
  });
  const agents = new InProcessAgents({
    kubeconfig,
    args: (node) => real.args(node),
    logFile: join(
      LOG_DIR,
      `agents-${all.length}-c${c}${setting.maxZones ? `-z${setting.maxZones}` : ''}.log`,
    ),
  });
  // A rebooting node takes its agent down, and the kubelet starts a new one when it is back.
  cluster.setAgentHooks({
    stop: (node) => (node === realNode ? real.stop(node, 'SIGKILL') : agents.stop(node)),
    start: async (node) => (node === realNode ? real.start(node) : agents.start(node)),
  });
  const load = new LoadSampler();
  try {
    real.start(realNode);
    await agents.startAll(all.filter((n) => n !== realNode));
    if (!(await until('every agent to read the cluster once', () => agents.allReady(), 120_000)))
      throw new Error('agents did not start');
    await sleep(5000); // the real process is ready too, the start-up reads are over

    if (ctx.first) {
      ctx.result.idle = await measureIdle(cluster, real.pid(realNode)!, ctx.watchesWithoutAgents);
      ctx.result.cycleMs = await measureCycle(cluster, observer, all.slice(K, K + 2));
    }
    const cycleMs = ctx.result.cycleMs!;
    const zoneOf = setting.maxZones ? (n: string) => observer.zone(n) : undefined;
    const sizes = waveSizes(needing, c, zoneOf);
    const waves = sizes.length;
    const limitMs = waves * cycleMs;
    // On this machine simultaneous cycles share 2 cores with every agent and the control plane, so
    // each is slower than one alone: the limit is also measured as the sum of the rollout's waves,
    // each wave size measured once alone (a wave of 1 is the cycle alone).
    const waveMs = new Map<number, number>([[1, cycleMs]]);
    for (const size of new Set(sizes)) {
      if (!waveMs.has(size))
        waveMs.set(
          size,
          await measureWave(cluster, observer, waveNodes(all, needing, realNode, size, zoneOf)),
        );
    }
    const waveLimitMs = c > 1 ? sizes.reduce((sum, size) => sum + waveMs.get(size)!, 0) : undefined;

    // The rollout: K sentinels at once.
    const rebootsBefore = new Map(all.map((n) => [n, cluster.rebootCount(n)]));
    observer.reset();
    const m0 = await scrape(cluster);
    const realCpu0 = cpuSeconds(real.pid(realNode)!);
    const t0 = Date.now();
    for (const n of needing) cluster.requireReboot(n);
    const done = () =>
      needing.every((n) => rebootedAndBack(cluster, observer, n, rebootsBefore.get(n)!)) &&
      observer.lockHolders().length === 0;
    const finished = await until('the rollout', done, Math.max(240_000, 4 * limitMs));
    const lastRelease = Math.max(...observer.releases.map((r) => r.at), t0);
    const rolloutMs = (finished ? lastRelease : Date.now()) - t0;
    const m1 = await scrape(cluster);
    const realCpu = cpuSeconds(real.pid(realNode)!) - realCpu0;
    await sleep(3000); // a second reboot would show now
    const events = await agentEvents(cluster, t0);

    // Hand-over: each cordon of the rollout after the first wave, from the lock release before it.
    const handovers: number[] = [];
    for (const cordon of observer.cordons.filter((x) => needing.includes(x.node))) {
      const before = observer.releases.filter((r) => r.at <= cordon.at).at(-1);
      if (before) handovers.push(cordon.at - before.at);
    }
    const rc = requestCounts(m0, m1);
    const requests = agentRequests(m0, m1);

    console.log(
      `  rollout of ${K} nodes: ${(rolloutMs / 1000).toFixed(1)} s; physical limit ${waves} waves${setting.maxZones ? ' (zone by zone)' : ''} x ${(cycleMs / 1000).toFixed(1)} s = ${(limitMs / 1000).toFixed(1)} s -> ${(rolloutMs / limitMs).toFixed(2)}x (target <= 1.15x)`,
    );
    if (waveLimitMs !== undefined) {
      console.log(
        `  against the waves [${sizes.join(', ')}] each measured alone = ${(waveLimitMs / 1000).toFixed(1)} s -> ${(rolloutMs / waveLimitMs).toFixed(2)}x`,
      );
    }
    const h = spread(handovers);
    console.log(
      `  hand-over (lock released -> next node cordoned): ${formatSpread(h)} (target at 100 nodes: median < 1000, p95 < 2000)`,
    );
    console.log(
      `  agents' API requests: ${requests} = ${(requests / K).toFixed(1)} per hand-over (K=${K} lock hand-overs)`,
    );
    console.log(
      `  DaemonSet (lock) writes: ${(rc.dsWrites / K).toFixed(1)} per hand-over (target <= ${c + 1}); 409 conflicts on it: ${(rc.dsConflicts / K).toFixed(2)} per hand-over (target <= 1)`,
    );
    console.log(`  DaemonSet requests, all clients, per hand-over: ${formatVerbs(rc.dsByVerb, K)}`);
    console.log(`  Node requests (not status), all clients, per hand-over: ${formatVerbs(rc.nodeByVerb, K)}`);
    console.log(`  Events posted by the agents: ${events} (${(events / K).toFixed(1)} per rebooted node)`);
    console.log(
      `  the real agent process (${realNode}, waiting nothing): CPU ${realCpu.toFixed(2)} s over the rollout, RSS ${rssMb(real.pid(realNode)!).toFixed(1)} MB`,
    );
    if (agents.errors.length)
      console.log(`  agent error lines: ${agents.errors.length}, first: ${agents.errors[0]!.trim()}`);
    if (agents.warnings.length)
      console.log(`  agent warning lines: ${agents.warnings.length}, first: ${agents.warnings[0]!.trim()}`);

    // Safety.
    const counts = all.map((n) => [n, cluster.rebootCount(n) - rebootsBefore.get(n)!] as const);
    const wrongCount = counts.filter(([n, d]) => d !== (needing.includes(n) ? 1 : 0));
    const strayCordons = observer.cordons.filter((x) => !needing.includes(x.node)).map((x) => x.node);
    const lock = await readLock(cluster);
    const stillDown = all.filter((n) => observer.cordoned(n) || !observer.ready(n));
    let safe = check(finished, `the rollout finished (every needed reboot done, lock released)`);
    safe =
      check(
        observer.maxDisrupted <= c,
        `never more than ${c} disrupted at once (max ${observer.maxDisrupted}${observer.maxDisrupted > c ? `: ${observer.worstDisrupted.join(', ')}` : ''})`,
      ) && safe;
    if (setting.maxZones)
      safe =
        check(
          observer.maxZones <= setting.maxZones,
          `never more than ${setting.maxZones} zone disrupted at once (max ${observer.maxZones}${observer.maxZones > setting.maxZones ? `: ${observer.worstZones.join(', ')}` : ''})`,
        ) && safe;
    else console.log(`  (zones disrupted at once, no zone rule: max ${observer.maxZones})`);
    safe =
      check(
        wrongCount.length === 0,
        `each needed reboot exactly once, no other (${wrongCount.length ? wrongCount.map(([n, d]) => `${n}: ${d}`).join(', ') : `${K} reboots`})`,
      ) && safe;
    safe =
      check(
        strayCordons.length === 0,
        `nodes not needing a reboot never cordoned${strayCordons.length ? ` (${strayCordons.join(', ')})` : ''}`,
      ) && safe;
    safe =
      check(
        stillDown.length === 0 && lock.length === 0,
        `at the end all nodes uncordoned and Ready, the lock empty${stillDown.length ? ` (still down: ${stillDown.join(', ')})` : ''}${lock.length ? ` (lock held by ${lock.join(', ')})` : ''}`,
      ) && safe;
    const loadLine = load.stop();
    console.log(`  ${loadLine}`);
    return {
      setting: name,
      available: true,
      safe,
      rolloutMs,
      limitMs,
      ...(waveLimitMs !== undefined ? { waveLimitMs } : {}),
      handover: h,
      requestsPerHandover: requests / K,
      dsWritesPerHandover: rc.dsWrites / K,
      conflictsPerHandover: rc.dsConflicts / K,
      events,
      maxDisrupted: observer.maxDisrupted,
      maxZones: observer.maxZones,
      load: loadLine,
    };
  } finally {
    load.stop();
    cluster.setAgentHooks(undefined);
    await agents.close();
    await real.stopAll();
  }
}

/**
 * How many cycles one after the other the rollout needs at best: ceil(K/c); with one zone at a time,
 * the sum over zones of ceil(K_zone/c) (a zone's last wave cannot be topped up from the next zone).
 */
/** The sizes of the waves a perfect schedule needs: ceil(K/c) waves, zone by zone under the zone rule. */
function waveSizes(needing: readonly string[], c: number, zoneOf?: (node: string) => string): number[] {
  const groups = new Map<string, number>();
  for (const n of needing) {
    const g = zoneOf ? zoneOf(n) : '';
    groups.set(g, (groups.get(g) ?? 0) + 1);
  }
  const sizes: number[] = [];
  for (let k of groups.values()) {
    for (; k > 0; k -= c) sizes.push(Math.min(c, k));
  }
  return sizes;
}

/** Idle agents: requests per agent-hour, open watches per agent, CPU and memory per agent. */
async function measureIdle(cluster: Cluster, realPid: number, watchesWithoutAgents: number): Promise<Idle> {
  const n = cluster.nodes.length;
  const before = await scrape(cluster);
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const realCpu0 = cpuSeconds(realPid);
  const rss: number[] = [];
  while (Date.now() - t0 < IDLE_S * 1000) {
    await sleep(1000);
    rss.push(rssMb(realPid));
  }
  const after = await scrape(cluster);
  const seconds = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const realCpu = cpuSeconds(realPid) - realCpu0;
  const requests = agentRequests(before, after);
  const rc = requestCounts(before, after);
  const idle: Idle = {
    requestsPerAgentHour: (requests / n) * (3600 / seconds),
    watchesPerAgent: (openWatches(after) - watchesWithoutAgents) / n,
    // This process's CPU (the harness's watches included) shared by its agents: an upper bound.
    inProcessCpuPct: ((cpu.user + cpu.system) / 1e6 / seconds / (n - 1)) * 100,
    realCpuPct: (realCpu / seconds) * 100,
    realRssMb: Math.max(...rss),
    breakdown: `DaemonSet ${formatVerbs(rc.dsByVerb)}; Node ${formatVerbs(rc.nodeByVerb)}`,
  };
  console.log(`  idle, ${n} agents over ${seconds.toFixed(0)} s:`);
  console.log(
    `    API requests: ${requests} = ${idle.requestsPerAgentHour.toFixed(1)} per agent-hour (target 0 beyond long-lived watches)`,
  );
  console.log(`    of which (all clients): ${idle.breakdown}`);
  console.log(
    `    watches open per agent: ${idle.watchesPerAgent.toFixed(2)} (target 0 on a node that needs nothing)`,
  );
  console.log(
    `    CPU per agent: real process ${idle.realCpuPct.toFixed(2)}% of a core; in-process ${idle.inProcessCpuPct.toFixed(3)}% (upper bound, harness included)`,
  );
  console.log(`    memory per agent (real process RSS, max): ${idle.realRssMb.toFixed(1)} MB`);
  return idle;
}

/** One node's cycle alone (sentinel -> its lock entry released), the unit of the physical limit. */
async function measureCycle(cluster: Cluster, observer: FleetObserver, nodes: string[]): Promise<number> {
  const cycles: number[] = [];
  for (const node of nodes) {
    const before = cluster.rebootCount(node);
    observer.reset();
    const t0 = Date.now();
    cluster.requireReboot(node);
    const ok = await until(
      `${node}'s cycle`,
      () => rebootedAndBack(cluster, observer, node, before),
      120_000,
    );
    check(ok && cluster.rebootCount(node) === before + 1, `${node} alone: rebooted once and released`);
    cycles.push(observer.releases.find((r) => r.node === node)!.at - t0);
  }
  const mean = Math.round(cycles.reduce((a, b) => a + b, 0) / cycles.length);
  console.log(
    `  one node's cycle alone (sentinel -> lock released): ${cycles.join(' ms, ')} ms, mean ${mean} ms`,
  );
  return mean;
}

/** The node rebooted since `rebootsBefore`, its lock released, uncordoned and Ready again. */
function rebootedAndBack(
  cluster: Cluster,
  observer: FleetObserver,
  node: string,
  rebootsBefore: number,
): boolean {
  return (
    cluster.rebootCount(node) > rebootsBefore &&
    observer.releases.some((r) => r.node === node) &&
    observer.uncordons.some((u) => u.node === node) &&
    !observer.cordoned(node) &&
    observer.ready(node)
  );
}

/** c nodes for one wave alone: not the rollout's when enough others exist, all of one zone under the zone rule. */
function waveNodes(
  all: readonly string[],
  needing: readonly string[],
  realNode: string,
  c: number,
  zoneOf?: (node: string) => string,
): string[] {
  const pool = all
    .filter((n) => n !== realNode)
    .sort((a, b) => Number(needing.includes(a)) - Number(needing.includes(b)));
  const zone = zoneOf?.(pool[0]!);
  return pool.filter((n) => !zoneOf || zoneOf(n) === zone).slice(0, c);
}

/** One wave alone: c nodes need a reboot at once; from their sentinels to the last release. */
async function measureWave(cluster: Cluster, observer: FleetObserver, nodes: string[]): Promise<number> {
  const before = new Map(nodes.map((n) => [n, cluster.rebootCount(n)]));
  observer.reset();
  const t0 = Date.now();
  for (const n of nodes) cluster.requireReboot(n);
  const ok = await until(
    `a wave of ${nodes.length}`,
    () => nodes.every((n) => rebootedAndBack(cluster, observer, n, before.get(n)!)),
    120_000,
  );
  check(
    ok && nodes.every((n) => cluster.rebootCount(n) === before.get(n)! + 1),
    `a wave of ${nodes.length} alone (${nodes.join(', ')}): each rebooted once and released`,
  );
  const ms = Math.max(...observer.releases.filter((r) => nodes.includes(r.node)).map((r) => r.at)) - t0;
  console.log(`  one wave of ${nodes.length} alone (sentinels -> last release): ${ms} ms`);
  return ms;
}

async function readLock(cluster: Cluster): Promise<string[]> {
  const ds = await cluster
    .kubeConfig()
    .makeApiClient(AppsV1Api)
    .readNamespacedDaemonSet({ name: LOCK.name, namespace: LOCK.namespace });
  return liveEntries(parseLock(ds.metadata?.annotations?.[LOCK.annotation]), new Date()).map((e) => e.nodeID);
}

/** Event objects the agents created since t0 (each is its own object: kured-ts posts no series). */
async function agentEvents(cluster: Cluster, t0: number): Promise<number> {
  const list = await cluster.kubeConfig().makeApiClient(EventsV1Api).listEventForAllNamespaces();
  return list.items.filter(
    (e) =>
      e.reportingController === 'kured-ts.dev/agent' &&
      new Date(e.eventTime as unknown as string).getTime() >= t0,
  ).length;
}

function summary(results: SizeResult[]): void {
  console.log('\n=== summary ===');
  console.log(
    'nodes | setting | rollout / limit | hand-over median / p95 / max | req/hand-over | DS writes / 409 per hand-over | Events | max disrupted / zones | safe',
  );
  for (const r of results) {
    for (const x of r.rollouts) {
      if (!x.available) {
        console.log(`${r.nodes} | ${x.setting} | not available (no --max-zones in this agent)`);
        continue;
      }
      const h = x.handover;
      console.log(
        [
          r.nodes,
          x.setting,
          `${((x.rolloutMs ?? 0) / 1000).toFixed(1)} s / ${((x.limitMs ?? 0) / 1000).toFixed(1)} s = ${((x.rolloutMs ?? 0) / (x.limitMs ?? 1)).toFixed(2)}x` +
            (x.waveLimitMs
              ? ` (waves alone: ${(x.waveLimitMs / 1000).toFixed(1)} s = ${((x.rolloutMs ?? 0) / x.waveLimitMs).toFixed(2)}x)`
              : ''),
          h ? `${h.median} / ${h.p95} / ${h.max} ms` : '-',
          x.requestsPerHandover?.toFixed(1),
          `${x.dsWritesPerHandover?.toFixed(1)} / ${x.conflictsPerHandover?.toFixed(2)}`,
          x.events,
          `${x.maxDisrupted} / ${x.maxZones}`,
          x.safe ? 'yes' : 'NO',
        ].join(' | '),
      );
    }
  }
  for (const r of results) {
    const i = r.idle;
    if (!i) continue;
    console.log(
      `${r.nodes} nodes idle: ${i.requestsPerAgentHour.toFixed(1)} requests per agent-hour, ${i.watchesPerAgent.toFixed(2)} watches per agent, CPU ${i.realCpuPct.toFixed(2)}% (real process) / ${i.inProcessCpuPct.toFixed(3)}% (in-process), RSS ${i.realRssMb.toFixed(1)} MB; one node's cycle ${r.cycleMs} ms`,
    );
  }
}

const results: SizeResult[] = [];
rmSync(LOG_DIR, { recursive: true, force: true });
mkdirSync(LOG_DIR, { recursive: true });
console.log(`agents' logs: ${LOG_DIR}`);
try {
  for (const n of SIZES) {
    if (!Number.isInteger(n) || n < K + 3) throw new Error(`FLEET_NODES: ${n} is too small for ${K} reboots`);
    results.push(await runSize(n));
  }
} catch (err) {
  failures.push(`the benchmark stopped: ${err instanceof Error ? err.message : String(err)}`);
  console.log(`bench: ${failures.at(-1)}`);
}
summary(results);
if (failures.length) {
  console.log(`\n${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
process.exit(0);
