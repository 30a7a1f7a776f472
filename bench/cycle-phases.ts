/**
 * Where a reboot cycle's time goes: one node alone against a wave of c nodes at once (issue 8: on
 * this 2-core machine c cycles at once took up to twice as long as one). For each node it stamps:
 * sentinel written -> lock taken -> cordoned -> reboot asked for (the testbed's reboot:start) ->
 * node down -> back Ready -> agent started again -> uncordoned -> lock released, and prints the
 * mean of each step, when each node of the wave took its slot, and the CPU seconds each process
 * of the machine used meanwhile (the agents run in this process, as in bench/fleet.ts).
 *
 * Environment: PHASES_NODES (default 100), PHASES_WAVE (5), PHASES_RUNS (2);
 * PHASES_PROFILE=<file>: a CPU profile of this process over the waves (Chrome DevTools format).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet } from '../testbed/src/fleet.ts';
import { startCluster, ZONE_LABEL } from '../testbed/src/index.ts';
import { InProcessAgents } from './support/agents.ts';
import { FleetObserver } from './support/observer.ts';

const NODES = Number(process.env.PHASES_NODES ?? 100);
const WAVE = Number(process.env.PHASES_WAVE ?? 5);
const RUNS = Number(process.env.PHASES_RUNS ?? 2);
const PROFILE = process.env.PHASES_PROFILE;
const LOCK = { namespace: 'kube-system', name: 'kured', annotation: 'weave.works/kured-node-lock' };
const STEPS = [
  'sentinel',
  'acquired',
  'cordoned',
  'rebootAsked',
  'down',
  'up',
  'agentStarted',
  'uncordoned',
  'released',
] as const;
type Step = (typeof STEPS)[number];

/** CPU seconds of every process of the machine, by command name (kernel threads left out). */
function cpuByCommand(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (/^(kworker|kdamond|ksoftirq|rcu_)/.test(comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(comm, (out.get(comm) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // The process ended while we read it.
    }
  }
  return out;
}

const cluster = await startCluster({ nodes: NODES, rebootDelayMs: 2000 });
const observer = new FleetObserver(cluster.kubeConfig(), LOCK, ZONE_LABEL);
const lockOwner = new Fleet(cluster);
const stamps = new Map<string, Partial<Record<Step, number>>>();
const stamp = (node: string, step: Step) => {
  const s = stamps.get(node);
  if (s && s[step] === undefined) s[step] = Date.now();
};
cluster.events.on('reboot:start', (n: string) => stamp(n, 'rebootAsked'));
cluster.events.on('reboot:down', (n: string) => stamp(n, 'down'));
cluster.events.on('reboot:up', (n: string) => stamp(n, 'up'));
cluster.events.on('reboot:done', (n: string) => stamp(n, 'agentStarted'));
let failed = false;

/** These nodes need a reboot at once; prints the wave's steps. */
async function wave(nodes: string[]): Promise<void> {
  const before = new Map(nodes.map((n) => [n, cluster.rebootCount(n)]));
  observer.reset();
  for (const n of nodes) {
    stamps.set(n, {});
    stamp(n, 'sentinel');
    cluster.requireReboot(n);
  }
  const t0 = Date.now();
  const cpu0 = cpuByCommand();
  const done = () =>
    nodes.every(
      (n) => cluster.rebootCount(n) > before.get(n)! && observer.releases.some((r) => r.node === n),
    );
  while (!done()) {
    if (Date.now() - t0 > 120_000) throw new Error(`a wave of ${nodes.length} did not finish within 120 s`);
    await sleep(50);
  }
  const cpu1 = cpuByCommand();
  const at = (list: { node: string; at: number }[], n: string) => list.find((x) => x.node === n)?.at;
  for (const n of nodes) {
    Object.assign(stamps.get(n)!, {
      acquired: at(observer.acquires, n),
      cordoned: at(observer.cordons, n),
      uncordoned: at(observer.uncordons, n),
      released: at(observer.releases, n),
    });
  }
  const total = Math.max(...nodes.map((n) => stamps.get(n)!.released!)) - t0;
  const steps = STEPS.slice(1).map((step, i) => {
    const d = nodes.map((n) => stamps.get(n)![step]! - stamps.get(n)![STEPS[i]!]!);
    return `${step} +${Math.round(d.reduce((a, b) => a + b, 0) / d.length)}`;
  });
  console.log(`wave of ${nodes.length}: ${total} ms | ${steps.join(' | ')}`);
  const slots = nodes.map((n) => stamps.get(n)!.acquired! - t0).sort((a, b) => a - b);
  console.log(`  slots taken at: ${slots.join(', ')} ms`);
  const used = [...cpu1]
    .map(([k, v]) => [k, v - (cpu0.get(k) ?? 0)] as const)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  console.log(`  CPU seconds meanwhile: ${used.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  const twice = nodes.filter((n) => cluster.rebootCount(n) !== before.get(n)! + 1);
  if (twice.length) {
    failed = true;
    console.log(`  FAIL rebooted other than once: ${twice.join(', ')}`);
  }
  await sleep(2000);
}

try {
  if (NODES < RUNS * (WAVE + 1)) throw new Error(`PHASES_NODES=${NODES} is too few for the runs`);
  await lockOwner.createLockDaemonSet();
  await observer.start();
  const fleet = new Fleet(cluster, {
    args: ['--period=1h', '--post-reboot-timeout=0', `--concurrency=${WAVE}`],
  });
  const agents = new InProcessAgents({
    kubeconfig: cluster.kubeconfigPath,
    args: (node) => fleet.args(node),
    logFile: join(tmpdir(), 'kured-ts-cycle-phases.log'),
  });
  cluster.setAgentHooks({ stop: (n) => agents.stop(n), start: (n) => agents.start(n) });
  await agents.startAll(cluster.nodes);
  while (!agents.allReady()) await sleep(200);
  await sleep(3000); // the start-up reads are over
  const session = new Session();
  if (PROFILE) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  for (let r = 0, next = 0; r < RUNS; r++, next += 1 + WAVE) {
    await wave(cluster.nodes.slice(next, next + 1));
    await wave(cluster.nodes.slice(next + 1, next + 1 + WAVE));
  }
  if (PROFILE) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(PROFILE, JSON.stringify(profile));
    console.log(`CPU profile of the waves: ${PROFILE}`);
  }
  await agents.close();
} catch (err) {
  failed = true;
  console.log(`bench: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  observer.stop();
  await lockOwner.stopAll();
  await cluster.stop();
}
process.exit(failed ? 1 : 0);
