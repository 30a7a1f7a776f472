/**
 * The fleet at scale (issue 8): 30 and 100 simulated nodes, each with its own agent, 20 of them
 * needing a reboot, at --concurrency=1, --concurrency=3 and --concurrency=5 --max-zones=1; patch
 * day (issue 18, bench/patchday.ts): 1,000 and 5,000 nodes, 20% of them needing a reboot at once,
 * at --concurrency=1, 10 and 50 --max-zones=1, as timed slices (the first hand-overs).
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
 * Besides, from kube-apiserver's own metrics: the first rush (every node needing a reboot getting in
 * line at once: its requests and 429s), and after it, per hand-over, the watch events and bytes the
 * server delivered (all watchers, by resource), the LIST of waiting nodes in bytes, the server's CPU
 * and p99 request latency against an idle minute; first come first served (each node's wait against
 * its place in line); with a slice, the cost of letting the rest of the line go.
 *
 * Above 200 nodes the simulated kubelets are quiet (testbed/src/scale.ts QUIET_LIVENESS: kwok renews
 * each Lease every 15 min and heartbeats each Node's status every 30 min instead of every 10 s and
 * 10 min), so that what the API server does is the agents' work, not thousands of heartbeats.
 *
 * Environment: FLEET_NODES (default 30,100), FLEET_REBOOTS (20, or a share such as 20%),
 * FLEET_SETTINGS (1,3,5z1: concurrency, z = --max-zones), FLEET_SLICE (hand-overs measured per
 * setting, whole waves; default all), FLEET_IDLE_SECONDS (60).
 */

import { mkdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, EventsV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { parseConfig } from '../src/config/parse.ts';
import { ConfigError } from '../src/core/errors.ts';
import { liveEntries, parseLock } from '../src/core/lock/codec.ts';
import { Fleet } from '../testbed/src/fleet.ts';
import { type Cluster, startCluster, ZONE_LABEL } from '../testbed/src/index.ts';
import { QUIET_LIVENESS } from '../testbed/src/scale.ts';
import { InProcessAgents } from './support/agents.ts';
import {
  agentRequests,
  apiServerCpu,
  formatVerbs,
  listBytes,
  openWatches,
  requestCounts,
  requestLatencyQuantile,
  type Sample,
  scrape,
  slowestRequestKinds,
  tooManyRequests,
  type WatchTraffic,
  watchTraffic,
} from './support/apiserver-metrics.ts';
import { FleetObserver } from './support/observer.ts';
import { cpuSeconds, formatSpread, rssMb, type Spread, spread } from './support/proc.ts';

const SIZES = (process.env.FLEET_NODES ?? '30,100').split(',').map(Number);
const REBOOTS = process.env.FLEET_REBOOTS ?? '20';
/** How many of n nodes need a reboot: FLEET_REBOOTS, a count or a share (`20%`). */
const rebootsFor = (n: number) =>
  REBOOTS.endsWith('%') ? Math.round((n * Number(REBOOTS.slice(0, -1))) / 100) : Number(REBOOTS);
const SLICE = Number(process.env.FLEET_SLICE ?? Infinity);
/** Above this size the simulated kubelets are quiet (see the header). */
const QUIET_ABOVE = 200;
const IDLE_S = Number(process.env.FLEET_IDLE_SECONDS ?? 60);
const REBOOT_DELAY_MS = 2000;
/** Outside the cluster's temp dir, which goes with the cluster: the agents' logs of the last run. */
const LOG_DIR = join(tmpdir(), 'kured-ts-fleet-bench');
const LOCK = { namespace: 'kube-system', name: 'kured', annotation: 'weave.works/kured-node-lock' };

interface Setting {
  concurrency: number;
  maxZones?: number;
}
/** `1,3,5z1`: a concurrency each, `z<n>` adds --max-zones=<n>. */
const SETTINGS: Setting[] = (process.env.FLEET_SETTINGS ?? '1,3,5z1').split(',').map((x) => {
  const m = /^(\d+)(?:z(\d+))?$/.exec(x.trim());
  if (!m) throw new Error(`FLEET_SETTINGS: "${x}" is not a concurrency such as 5 or 5z1`);
  return { concurrency: Number(m[1]), ...(m[2] ? { maxZones: Number(m[2]) } : {}) };
});
const label = (s: Setting) => `c=${s.concurrency}${s.maxZones ? ` max-zones=${s.maxZones}` : ''}`;

interface Idle {
  requestsPerAgentHour: number;
  watchesPerAgent: number;
  inProcessCpuPct: number;
  realCpuPct: number;
  realRssMb: number;
  breakdown: string;
  /** The API server's p99 request latency (s) and CPU (share of a core) over the idle minute. */
  p99?: number;
  apiCpu: number;
}
interface Rollout {
  setting: string;
  available: boolean;
  safe?: boolean;
  rolloutMs?: number;
  limitMs?: number;
  /** The limit as the sum of the rollout's waves, each size measured alone at this setting (c > 1). */
  waveLimitMs?: number;
  /** The line's pace after the first rush against as many waves alone (x). */
  paceRatio?: number;
  handover?: Spread;
  requestsPerHandover?: number;
  dsWritesPerHandover?: number;
  conflictsPerHandover?: number;
  /** The hand-overs measured, when a timed slice of the rollout. */
  slice?: number;
  dsWatchEventsPerHandover?: number;
  dsWatchBytesPerHandover?: number;
  listBytesPerHandover?: number;
  rush429?: number;
  p99?: number;
  apiCpu?: number;
  fairness?: string;
  events?: number;
  maxDisrupted?: number;
  maxZones?: number;
  load?: string;
}
interface SizeResult {
  nodes: number;
  reboots: number;
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

/**
 * This process's own share of the machine over a window: the agents, the observer and the
 * testbed's hooks share one event loop, so a busy loop slows every agent's cycle alike.
 */
function harnessLoad(): () => string {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  return () => {
    lag.disable();
    const cpu = process.cpuUsage(cpu0);
    const share = (cpu.user + cpu.system) / 1000 / (performance.now() - t0);
    return `the benchmark's process (agents, observer): CPU ${(share * 100).toFixed(0)}% of a core, event-loop delay p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms`;
  };
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
  const k = rebootsFor(nodes);
  if (!Number.isInteger(k) || k < 1 || nodes < k + 3)
    throw new Error(`FLEET_NODES/FLEET_REBOOTS: ${k} reboots do not fit ${nodes} nodes`);
  const quiet = nodes > QUIET_ABOVE;
  console.log(
    `\n=== ${nodes} nodes, ${k} needing a reboot (reboot delay ${REBOOT_DELAY_MS} ms${quiet ? `; quiet kubelets: Lease every ${QUIET_LIVENESS.leaseDurationSeconds / 4} s, status every ${QUIET_LIVENESS.heartbeatMs! / 1000} s` : ''}) ===`,
  );
  const result: SizeResult = { nodes, reboots: k, rollouts: [] };
  const started = Date.now();
  const cluster = await startCluster({
    nodes,
    rebootDelayMs: REBOOT_DELAY_MS,
    ...(quiet ? { liveness: QUIET_LIVENESS } : {}),
  });
  const observer = new FleetObserver(cluster.kubeConfig(), LOCK, ZONE_LABEL);
  // The lock's DaemonSet, as the chart makes it (with a pod on every node); it goes with its Fleet.
  const lockOwner = new Fleet(cluster);
  try {
    const kubeconfig = await agentIdentity(cluster);
    await lockOwner.createLockDaemonSet();
    await observer.start();
    console.log(
      `  testbed up with ${nodes} nodes and the lock DaemonSet's ${nodes} pods Ready in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    const watchesWithoutAgents = openWatches(await scrape(cluster));
    for (const [i, setting] of SETTINGS.entries()) {
      const r = await runSetting(cluster, observer, kubeconfig, setting, {
        first: i === 0,
        result,
        watchesWithoutAgents,
        k,
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
  ctx: { first: boolean; result: SizeResult; watchesWithoutAgents: number; k: number },
): Promise<Rollout> {
  const name = label(setting);
  console.log(`\n--- ${name} ---`);
  const zoneFlag = setting.maxZones ? [`--max-zones=${setting.maxZones}`] : [];
  if (zoneFlag.length && !agentKnows(zoneFlag[0]!)) {
    console.log('  not available: this agent has no --max-zones flag');
    return { setting: name, available: false };
  }
  const { k } = ctx;
  const c = setting.concurrency;
  const all = cluster.nodes;
  const realNode = all.at(-1)!;
  const needing = all.slice(0, k);
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
    const startedAt = Date.now();
    await agents.startAll(all.filter((n) => n !== realNode));
    // Each agent's first look is two GETs: 120 s for a hundred, 50 ms more per agent beyond.
    const startLimit = 120_000 + Math.max(0, all.length - 100) * 50;
    if (!(await until('every agent to read the cluster once', () => agents.allReady(), startLimit)))
      throw new Error('agents did not start');
    console.log(
      `  ${all.length} agents started and read the cluster in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    await sleep(5000); // the real process is ready too, the start-up reads are over

    if (ctx.first) {
      ctx.result.idle = await measureIdle(cluster, real.pid(realNode)!, ctx.watchesWithoutAgents);
      ctx.result.cycleMs = await measureCycle(cluster, observer, all.slice(k, k + 2));
    }
    const cycleMs = ctx.result.cycleMs!;
    const zoneOf = setting.maxZones ? (n: string) => observer.zone(n) : undefined;
    const allSizes = waveSizes(needing, c, zoneOf);
    // A timed slice: the first waves holding at least FLEET_SLICE hand-overs (whole waves).
    const sizes = sliceWaves(allSizes, SLICE);
    const sliced = sizes.length < allSizes.length;
    const target = sizes.reduce((a, b) => a + b, 0);
    const waves = sizes.length;
    const limitMs = waves * cycleMs;
    // On this machine simultaneous cycles share 2 cores with every agent and the control plane, so
    // each is slower than one alone: the limit is also measured as the sum of the rollout's waves,
    // each wave size measured once alone (a wave of 1 is the cycle alone).
    const waveMs = new Map<number, number>([[1, cycleMs]]);
    // How long a slot is held in a wave alone (its cycles' median): the pace's unit once the line
    // is whole. (A wave's own span starts at its last arrival, after the first-look spread: at
    // 5,000 nodes that is one cycle however many the wave holds.)
    const slotMs = new Map<number, number>([[1, cycleMs]]);
    for (const size of new Set(sizes)) {
      if (waveMs.has(size)) continue;
      const wave = await measureWave(cluster, observer, waveNodes(all, needing, realNode, size, zoneOf));
      waveMs.set(size, wave.spanMs);
      slotMs.set(size, wave.slotMs);
    }
    const waveLimitMs = c > 1 ? sizes.reduce((sum, size) => sum + waveMs.get(size)!, 0) : undefined;

    // The rollout: k sentinels at once.
    const rebootsBefore = new Map(all.map((n) => [n, cluster.rebootCount(n)]));
    observer.reset();
    const warnings0 = agents.warnings.length;
    const errors0 = agents.errors.length;
    const m0 = await scrape(cluster);
    const realCpu0 = cpuSeconds(real.pid(realNode)!);
    const t0 = Date.now();
    const harness = harnessLoad();
    for (const n of needing) cluster.requireReboot(n);
    // The first rush: until every node needing a reboot got in line (or took the lock meanwhile).
    const inLine = () =>
      needing.every((n) => observer.lineSince.has(n) || observer.acquires.some((a) => a.node === n));
    const rushLimit = 60_000 + k * 100;
    const rushed = await until('every node to get in line', inLine, rushLimit);
    const rushMs = Date.now() - t0;
    const mRush = await scrape(cluster);
    const tRush = Date.now();
    const releasedAfterRush = () => observer.releases.filter((r) => r.at >= tRush).length;
    // After the rush the line is whole: its pace is measured over at least two waves of it.
    const paceWaves = sliced ? 2 * c : 0;
    const done = () =>
      sliced
        ? observer.releases.length >= target && releasedAfterRush() >= paceWaves
        : needing.every((n) => rebootedAndBack(cluster, observer, n, rebootsBefore.get(n)!)) &&
          observer.lockHolders().length === 0;
    const finished = await until(
      sliced ? `the first ${target} hand-overs` : 'the rollout',
      done,
      Math.max(240_000, 4 * (waveLimitMs ?? limitMs)),
    );
    const lastRelease = sliced
      ? (observer.releases[target - 1]?.at ?? Date.now())
      : Math.max(...observer.releases.map((r) => r.at), t0);
    const rolloutMs = (finished ? lastRelease : Date.now()) - t0;
    // The line's pace once whole (the first rush over): its releases against as many waves of c
    // measured alone. Spread arrivals limit the waves during the rush, not after it.
    const afterRush = observer.releases.filter((r) => r.at >= tRush);
    const slots = Math.min(c, Math.max(...allSizes));
    const pace = afterRush.length
      ? {
          releases: afterRush.length,
          ms: afterRush.at(-1)!.at - tRush,
          aloneMs: (afterRush.length / slots) * (slotMs.get(slots) ?? cycleMs),
        }
      : undefined;
    const harnessLine = harness();
    const m1 = await scrape(cluster);
    const realCpu = cpuSeconds(real.pid(realNode)!) - realCpu0;
    const steadyHandovers = Math.max(1, releasedAfterRush());

    // Fairness, read before the line is let go: each node's wait against its place in line.
    const fairness = lineFairness(observer, needing, setting.maxZones ? zoneOf : undefined);

    // A slice ends the rollout early: the nodes still in line lose their sentinel (their reboot is
    // no longer needed) and leave the line; the cycles under way finish.
    let leftLine: { ms: number; ok: boolean; requests: number } | undefined;
    if (sliced) {
      const left = needing.filter((n) => !observer.acquires.some((a) => a.node === n));
      const mLeave = await scrape(cluster);
      const tLeave = Date.now();
      for (const n of left) rmSync(cluster.sentinelPath(n), { force: true });
      const ok = await until(
        'the line to empty and the cycles under way to finish',
        () =>
          observer.waitingNodes().length === 0 &&
          observer.lockHolders().length === 0 &&
          [...observer.acquires.map((a) => a.node)].every((n) =>
            rebootedAndBack(cluster, observer, n, rebootsBefore.get(n)!),
          ),
        240_000 + left.length * 100,
      );
      leftLine = {
        ms: Date.now() - tLeave,
        ok,
        requests: agentRequests(mLeave, await scrape(cluster)),
      };
    }
    await sleep(3000); // a second reboot would show now
    const events = await agentEvents(cluster, t0);
    // Sliced, the nodes that took the lock before their sentinel went (the one taking it as the
    // slice ends, too) reboot; the others must not.
    const acquired = new Set(observer.acquires.map((a) => a.node));
    const rebooted = sliced ? needing.filter((n) => acquired.has(n)) : needing;

    // Hand-over: each cordon of the rollout after the first wave, from the lock release before it.
    const handovers: number[] = [];
    for (const cordon of observer.cordons.filter((x) => needing.includes(x.node))) {
      const before = observer.releases.filter((r) => r.at <= cordon.at).at(-1);
      if (before) handovers.push(cordon.at - before.at);
    }
    // The whole window (the first rush included) and the steady part after it, per hand-over.
    const rc = requestCounts(mRush, m1);
    const requests = agentRequests(mRush, m1);
    const rushRequests = agentRequests(m0, mRush);
    const watch = watchTraffic(mRush, m1);
    // The line's head (Leases, src/kube/line.ts) and the nodes a recreated lock forgot (Nodes).
    const lineLists = listBytes(mRush, m1, 'leases');
    const nodeLists = listBytes(mRush, m1, 'nodes');
    const lists = { bytes: lineLists.bytes + nodeLists.bytes, lists: lineLists.lists + nodeLists.lists };
    const throttled = { rush: tooManyRequests(m0, mRush), after: tooManyRequests(mRush, m1) };
    const p99 = requestLatencyQuantile(m0, m1, 0.99);
    const apiCpu = apiServerCpu(m0, m1) / ((Date.now() - t0) / 1000);
    const ho = steadyHandovers;
    const nodeGets = [...rc.nodeByVerb].reduce((n, [k, v]) => (k.startsWith('GET ') ? n + v : n), 0);
    const per = (x: number) => (x / ho).toFixed(1);
    const warnLines = agents.warnings.slice(warnings0);
    const errLines = agents.errors.slice(errors0);
    const agent429 = [...warnLines, ...errLines].filter((l) => /\b429\b/.test(l)).length;

    console.log(
      `  first rush: ${k} nodes in line ${rushed ? `after ${(rushMs / 1000).toFixed(1)} s` : 'NOT all in line'}; agents' requests ${rushRequests} (${(rushRequests / k).toFixed(1)} per node); HTTP 429 from the API server: ${throttled.rush} (target: nearly none)`,
    );
    console.log(
      `  ${sliced ? `timed slice: the first ${target} of ${k} hand-overs (${waves} waves of [${sizes.join(', ')}]), the rest of the line then let go` : `rollout of ${k} nodes`}: ${(rolloutMs / 1000).toFixed(1)} s; physical limit ${waves} waves${setting.maxZones ? ' (zone by zone)' : ''} x ${(cycleMs / 1000).toFixed(1)} s = ${(limitMs / 1000).toFixed(1)} s -> ${(rolloutMs / limitMs).toFixed(2)}x (target <= 1.15x)`,
    );
    if (waveLimitMs !== undefined) {
      console.log(
        `  against the waves [${sizes.join(', ')}] each measured alone = ${(waveLimitMs / 1000).toFixed(1)} s -> ${(rolloutMs / waveLimitMs).toFixed(2)}x (target <= 1.15x)`,
      );
    }
    if (pace)
      console.log(
        `  the line's pace after the rush: ${pace.releases} releases in ${(pace.ms / 1000).toFixed(1)} s; ${slots} slots each held a wave alone's median cycle, back to back: ${(pace.aloneMs / 1000).toFixed(1)} s -> ${(pace.ms / pace.aloneMs).toFixed(2)}x (target <= 1.15x)`,
      );
    console.log(
      `  each slot's cycle in the rollout (lock taken -> released, until the slice's last): ${formatSpread(spread(cycleTimes(observer, lastRelease)))}`,
    );
    const h = spread(handovers);
    console.log(
      `  hand-over (lock released -> next node cordoned): ${formatSpread(h)} (target: median < 1000, p95 < 2000)`,
    );
    console.log(
      `  after the rush, per hand-over (${ho} hand-overs): agents' API requests ${per(requests)} (without the Node GETs, most of them the idle agents' looks for a reboot request, one per node per --reboot-request-period whatever the rollout: ${per(requests - nodeGets)}); lock writes ${per(rc.dsWrites)}, 409s ${(rc.dsConflicts / ho).toFixed(2)}`,
    );
    const whole = sliced ? target : k;
    const wholeRc = requestCounts(m0, m1);
    console.log(
      `    the whole window, first rush included, per hand-over (${whole}): agents' API requests ${(agentRequests(m0, m1) / whole).toFixed(1)}; lock writes ${(wholeRc.dsWrites / whole).toFixed(1)}, 409s ${(wholeRc.dsConflicts / whole).toFixed(2)}`,
    );
    console.log(`    DaemonSet requests, all clients: ${formatVerbs(rc.dsByVerb, ho)}`);
    console.log(`    Node requests (not status), all clients: ${formatVerbs(rc.nodeByVerb, ho)}`);
    console.log(`    watch events delivered (all watchers), per hand-over: ${formatWatch(watch, ho)}`);
    const perList = (l: { bytes: number; lists: number }) =>
      `${(l.lists / ho).toFixed(2)} lists, ${Math.round(l.bytes / ho)} bytes per hand-over (${l.lists ? Math.round(l.bytes / l.lists) : 0} bytes each)`;
    console.log(
      `    LIST of the line's head (Leases): ${perList(lineLists)}; LIST of nodes (metadata, in-cycle label): ${perList(nodeLists)}; 429s ${throttled.after}`,
    );
    console.log(
      `  API server: CPU ${(apiCpu * 100).toFixed(0)}% of a core over the rollout; p99 request latency ${fmtSeconds(p99)} (idle: ${fmtSeconds(ctx.result.idle?.p99)}; target within 2x)`,
    );
    const slowest = (from: Sample[], to: Sample[]) =>
      slowestRequestKinds(from, to, 0.99)
        .map((x) => `${x.kind} ${fmtSeconds(x.quantile)} (${x.count})`)
        .join(', ');
    console.log(`    the slowest kinds' p99 (count), the rush: ${slowest(m0, mRush)}`);
    console.log(`    after the rush: ${slowest(mRush, m1)}`);
    console.log(
      `  Events posted by the agents: ${events} (${(events / rebooted.length).toFixed(1)} per rebooted node)`,
    );
    console.log(
      `  the real agent process (${realNode}, waiting nothing): CPU ${realCpu.toFixed(2)} s over the rollout, RSS ${rssMb(real.pid(realNode)!).toFixed(1)} MB`,
    );
    console.log(
      `  agents' warning lines ${warnLines.length}, error lines ${errLines.length}, of which naming HTTP 429: ${agent429}`,
    );
    if (errLines.length) console.log(`    first error: ${errLines[0]!.trim().slice(0, 300)}`);
    if (warnLines.length) console.log(`    first warning: ${warnLines[0]!.trim().slice(0, 300)}`);
    if (fairness) console.log(`  ${fairness.line}`);
    if (leftLine)
      console.log(
        `  the rest of the line let go: empty and every cycle under way finished ${leftLine.ok ? `in ${(leftLine.ms / 1000).toFixed(1)} s` : 'NOT in time'}; agents' requests meanwhile ${leftLine.requests}`,
      );

    // Safety.
    const counts = all.map((n) => [n, cluster.rebootCount(n) - rebootsBefore.get(n)!] as const);
    const wrongCount = counts.filter(([n, d]) => d !== (rebooted.includes(n) ? 1 : 0));
    const strayCordons = observer.cordons.filter((x) => !rebooted.includes(x.node)).map((x) => x.node);
    const lock = await readLock(cluster);
    const stillDown = all.filter((n) => observer.cordoned(n) || !observer.ready(n));
    let safe = check(
      finished,
      sliced
        ? `the first ${target} hand-overs happened`
        : `the rollout finished (every needed reboot done, lock released)`,
    );
    if (leftLine)
      safe = check(leftLine.ok, 'the line emptied once let go, the cycles under way finished') && safe;
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
        `each reboot that took the lock exactly once, no other (${wrongCount.length ? wrongCount.map(([n, d]) => `${n}: ${d}`).join(', ') : `${rebooted.length} reboots`})`,
      ) && safe;
    safe =
      check(
        strayCordons.length === 0,
        `nodes not rebooting never cordoned${strayCordons.length ? ` (${strayCordons.join(', ')})` : ''}`,
      ) && safe;
    safe =
      check(
        stillDown.length === 0 && lock.length === 0,
        `at the end all nodes uncordoned and Ready, the lock empty${stillDown.length ? ` (still down: ${stillDown.join(', ')})` : ''}${lock.length ? ` (lock held by ${lock.join(', ')})` : ''}`,
      ) && safe;
    const loadLine = load.stop();
    console.log(`  ${loadLine}; over the rollout, ${harnessLine}`);
    const ds = watch.get('daemonsets') ?? { events: 0, bytes: 0 };
    return {
      setting: name,
      available: true,
      safe,
      rolloutMs,
      limitMs,
      ...(waveLimitMs !== undefined ? { waveLimitMs } : {}),
      ...(sliced ? { slice: target } : {}),
      ...(pace ? { paceRatio: pace.ms / pace.aloneMs } : {}),
      handover: h,
      requestsPerHandover: requests / ho,
      dsWritesPerHandover: rc.dsWrites / ho,
      conflictsPerHandover: rc.dsConflicts / ho,
      dsWatchEventsPerHandover: ds.events / ho,
      dsWatchBytesPerHandover: ds.bytes / ho,
      listBytesPerHandover: lists.bytes / ho,
      rush429: throttled.rush,
      ...(p99 !== undefined ? { p99 } : {}),
      apiCpu,
      events,
      maxDisrupted: observer.maxDisrupted,
      maxZones: observer.maxZones,
      ...(fairness ? { fairness: fairness.summary } : {}),
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
 * The first waves holding at least `slice` hand-overs, and at least two waves (a hand-over is from
 * one wave to the next); all of them when the slice is not smaller.
 */
function sliceWaves(sizes: number[], slice: number): number[] {
  const out: number[] = [];
  let n = 0;
  for (const s of sizes) {
    if (n >= slice && out.length >= 2) break;
    out.push(s);
    n += s;
  }
  return out;
}

/** How much earlier in line a node must be for being passed to count as an overtake. */
const OVERTAKE_MARGIN_MS = 1000;

function fmtSeconds(s: number | undefined): string {
  return s === undefined ? '-' : `${Math.round(s * 1000)} ms`;
}

function formatWatch(m: Map<string, WatchTraffic>, per: number): string {
  return [...m]
    .filter(([, t]) => t.events >= 0.5 * per)
    .sort((a, b) => b[1].events - a[1].events)
    .map(([r, t]) => `${r} ${(t.events / per).toFixed(1)} (${(t.bytes / per / 1024).toFixed(1)} KiB)`)
    .join(', ');
}

/**
 * First come first served: each node that took the lock, its wait (line -> lock) against its place
 * in line (by its waiting label, within its zone under the zone rule), and how many took the lock
 * while someone who got in line before them (in the same zone) was still waiting.
 */
function lineFairness(
  observer: FleetObserver,
  needing: readonly string[],
  zoneOf: ((n: string) => string) | undefined,
): { line: string; summary: string } | undefined {
  const since = needing
    .filter((n) => observer.lineSince.has(n))
    .map((n) => ({ n, since: observer.lineSince.get(n)! }))
    .sort((a, b) => a.since - b.since || a.n.localeCompare(b.n));
  const acquired = new Map<string, number>();
  for (const a of observer.acquires) if (!acquired.has(a.node)) acquired.set(a.node, a.at);
  if (since.length === 0 || acquired.size === 0) return undefined;
  const place = new Map(since.map((x, i) => [x.n, i + 1]));
  let overtakes = 0;
  for (const [node, at] of acquired) {
    const mine = observer.lineSince.get(node);
    if (mine === undefined) continue;
    const zone = zoneOf?.(node);
    // In line a second or more before us: the first rush's milliseconds between agents that look
    // at the same moment and write their label one after another are no queue order.
    overtakes += since.some(
      (x) =>
        x.since <= mine - OVERTAKE_MARGIN_MS &&
        (zone === undefined || zoneOf!(x.n) === zone) &&
        (acquired.get(x.n) ?? Infinity) > at,
    )
      ? 1
      : 0;
  }
  const waits = [...acquired]
    .filter(([n]) => place.has(n))
    .map(([n, at]) => ({ place: place.get(n)!, wait: at - observer.lineSince.get(n)! }))
    .sort((a, b) => b.wait - a.wait);
  const longest = waits[0]!;
  const byTenth = [0.1, 0.5, 1]
    .map((q) => {
      const upTo = Math.ceil(q * since.length);
      const w = waits.filter((x) => x.place <= upTo).map((x) => x.wait);
      return w.length ? `places 1-${upTo}: ${(Math.max(...w) / 1000).toFixed(1)} s` : '';
    })
    .filter(Boolean)
    .join(', ');
  const summary = `${overtakes} overtakes; longest wait ${(longest.wait / 1000).toFixed(1)} s at place ${longest.place}/${since.length}`;
  return {
    line: `first come first served (${zoneOf ? 'within each zone' : 'by waiting label'}): ${acquired.size} took the lock, ${overtakes} of them while someone in line ${OVERTAKE_MARGIN_MS / 1000} s or more before them still waited; longest wait ${(longest.wait / 1000).toFixed(1)} s at place ${longest.place} of ${since.length}; longest wait by place: ${byTenth}`,
    summary,
  };
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
  const p99 = requestLatencyQuantile(before, after, 0.99);
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
    ...(p99 !== undefined ? { p99 } : {}),
    apiCpu: apiServerCpu(before, after) / seconds,
  };
  console.log(`  idle, ${n} agents over ${seconds.toFixed(0)} s:`);
  console.log(
    `    API requests: ${requests} = ${idle.requestsPerAgentHour.toFixed(1)} per agent-hour (target: the looks for a reboot request alone, one per --reboot-request-period: 12 per agent-hour at 5 min)`,
  );
  console.log(`    of which (all clients): ${idle.breakdown}`);
  console.log(
    `    watches open per agent: ${idle.watchesPerAgent.toFixed(2)} (target 0 on a node that needs nothing)`,
  );
  console.log(
    `    CPU per agent: real process ${idle.realCpuPct.toFixed(2)}% of a core; in-process ${idle.inProcessCpuPct.toFixed(3)}% (upper bound, harness included)`,
  );
  console.log(`    memory per agent (real process RSS, max): ${idle.realRssMb.toFixed(1)} MB`);
  console.log(
    `    API server: CPU ${(idle.apiCpu * 100).toFixed(0)}% of a core, p99 request latency ${p99 === undefined ? '-' : `${Math.round(p99 * 1000)} ms`}`,
  );
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
    // From when it got in line (its waiting label's time): after the first-look spread, which a
    // rollout pays once, not once per wave.
    const from = Math.max(t0, observer.lineSince.get(node) ?? t0);
    cycles.push(observer.releases.find((r) => r.node === node)!.at - from);
  }
  const mean = Math.round(cycles.reduce((a, b) => a + b, 0) / cycles.length);
  console.log(
    `  one node's cycle alone (in line -> lock released, the first-look spread left out): ${cycles.join(' ms, ')} ms, mean ${mean} ms`,
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
async function measureWave(
  cluster: Cluster,
  observer: FleetObserver,
  nodes: string[],
): Promise<{ spanMs: number; slotMs: number }> {
  const before = new Map(nodes.map((n) => [n, cluster.rebootCount(n)]));
  observer.reset();
  const t0 = Date.now();
  const harness = harnessLoad();
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
  // From when the last of them got in line: the first-look spread left out (a lower bound).
  const from = Math.max(t0, ...nodes.map((n) => observer.lineSince.get(n) ?? t0));
  const ms = Math.max(...observer.releases.filter((r) => nodes.includes(r.node)).map((r) => r.at)) - from;
  const cycles = spread(cycleTimes(observer));
  console.log(
    `  one wave of ${nodes.length} alone (the last of them in line -> last release, the first-look spread left out): ${ms} ms; each cycle (lock taken -> released): ${formatSpread(cycles)}; ${harness()}`,
  );
  return { spanMs: ms, slotMs: cycles?.median ?? ms };
}

/** Each node's time holding the lock, from its acquire to the release after it. */
function cycleTimes(observer: FleetObserver, until = Infinity): number[] {
  return observer.releases.flatMap((r) => {
    if (r.at > until) return [];
    const taken = observer.acquires.filter((a) => a.node === r.node && a.at <= r.at).at(-1);
    return taken ? [r.at - taken.at] : [];
  });
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
    'nodes | waiting | setting | rollout / limit (waves alone; after the rush) | hand-over median / p95 / max | req / lock writes / 409 per hand-over | DS watch events (KiB) per hand-over | LIST bytes per hand-over | rush 429s | API p99 (idle) / CPU | FCFS | max disrupted / zones | safe',
  );
  for (const r of results) {
    for (const x of r.rollouts) {
      if (!x.available) {
        console.log(
          `${r.nodes} | ${r.reboots} | ${x.setting} | not available (no --max-zones in this agent)`,
        );
        continue;
      }
      const h = x.handover;
      console.log(
        [
          r.nodes,
          r.reboots,
          x.setting + (x.slice ? ` (slice: first ${x.slice})` : ''),
          `${((x.rolloutMs ?? 0) / 1000).toFixed(1)} s / ${((x.limitMs ?? 0) / 1000).toFixed(1)} s = ${((x.rolloutMs ?? 0) / (x.limitMs ?? 1)).toFixed(2)}x` +
            (x.waveLimitMs
              ? ` (waves alone: ${(x.waveLimitMs / 1000).toFixed(1)} s = ${((x.rolloutMs ?? 0) / x.waveLimitMs).toFixed(2)}x)`
              : '') +
            (x.paceRatio ? `; after the rush ${x.paceRatio.toFixed(2)}x` : ''),
          h ? `${h.median} / ${h.p95} / ${h.max} ms` : '-',
          `${x.requestsPerHandover?.toFixed(1)} / ${x.dsWritesPerHandover?.toFixed(1)} / ${x.conflictsPerHandover?.toFixed(2)}`,
          `${x.dsWatchEventsPerHandover?.toFixed(1)} (${((x.dsWatchBytesPerHandover ?? 0) / 1024).toFixed(1)})`,
          Math.round(x.listBytesPerHandover ?? 0),
          x.rush429,
          `${fmtSeconds(x.p99)} (${fmtSeconds(r.idle?.p99)}) / ${Math.round((x.apiCpu ?? 0) * 100)}%`,
          x.fairness ?? '-',
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
      `${r.nodes} nodes idle: ${i.requestsPerAgentHour.toFixed(1)} requests per agent-hour, ${i.watchesPerAgent.toFixed(2)} watches per agent, CPU ${i.realCpuPct.toFixed(2)}% (real process) / ${i.inProcessCpuPct.toFixed(3)}% (in-process), RSS ${i.realRssMb.toFixed(1)} MB; API server ${Math.round(i.apiCpu * 100)}% CPU, p99 ${fmtSeconds(i.p99)}; one node's cycle ${r.cycleMs} ms`,
    );
  }
}

const results: SizeResult[] = [];
rmSync(LOG_DIR, { recursive: true, force: true });
mkdirSync(LOG_DIR, { recursive: true });
console.log(`agents' logs: ${LOG_DIR}`);
try {
  for (const n of SIZES) results.push(await runSize(n));
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
