/**
 * Reaction times of the reboot cycle on the local control plane, with --period=1h so that only
 * watches can explain fast reactions (DESIGN.md targets: both under 2 s; kured: up to one period).
 *   1. the sentinel file appears (lock free) -> the node is cordoned
 *   2. the lock is released -> the next waiting node is cordoned
 *   3. a rolling reboot of N nodes at concurrency c, against N/c x (one node's cycle time)
 */
import { type V1Node, Watch } from '@kubernetes/client-node';
import { Fleet } from '../testbed/src/fleet.ts';
import { startCluster } from '../testbed/src/index.ts';

const NODES = 6;
const REBOOT_DELAY_MS = 2000;
const cluster = await startCluster({ nodes: NODES, rebootDelayMs: REBOOT_DELAY_MS, log: () => {} });
const kc = cluster.kubeConfig();

/** Times (ms since epoch) at which each node became unschedulable / schedulable again. */
const cordonedAt = new Map<string, number[]>();
const uncordonedAt = new Map<string, number[]>();
const lockFreedAt: number[] = [];
const unsched = new Map<string, boolean>();
const watches = [
  await new Watch(kc).watch(
    '/api/v1/nodes',
    {},
    (_t, n: V1Node) => {
      const name = n.metadata?.name ?? '';
      const now = Date.now();
      const u = n.spec?.unschedulable === true;
      if (u && !unsched.get(name)) cordonedAt.set(name, [...(cordonedAt.get(name) ?? []), now]);
      if (!u && unsched.get(name)) uncordonedAt.set(name, [...(uncordonedAt.get(name) ?? []), now]);
      unsched.set(name, u);
    },
    () => {},
  ),
];
let held = false;
watches.push(
  await new Watch(kc).watch(
    '/apis/apps/v1/namespaces/kube-system/daemonsets',
    {},
    (_t, ds) => {
      const has = Boolean(ds.metadata?.annotations?.['weave.works/kured-node-lock']);
      if (held && !has) lockFreedAt.push(Date.now());
      held = has;
    },
    () => {},
  ),
);

async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]} ms, max ${s.at(-1)} ms (n=${s.length})`;
};

try {
  const fleet = new Fleet(cluster, { args: ['--period=1h'] });
  await fleet.createLockDaemonSet();
  fleet.startAll();
  await new Promise((r) => setTimeout(r, 2000)); // agents settled, idle

  // 1. sentinel -> cordon, one node at a time, the lock free
  const sentinelToCordon: number[] = [];
  for (const node of cluster.nodes.slice(0, 3)) {
    const t0 = Date.now();
    const before = cordonedAt.get(node)?.length ?? 0;
    cluster.requireReboot(node);
    await until(`${node} cordoned`, () => (cordonedAt.get(node)?.length ?? 0) > before);
    sentinelToCordon.push(cordonedAt.get(node)!.at(-1)! - t0);
    await until(`${node} done`, () => (uncordonedAt.get(node)?.length ?? 0) > before && !held);
  }
  console.log(`sentinel appears -> node cordoned:          ${stats(sentinelToCordon)}`);
  const cycle = cluster.nodes
    .slice(0, 3)
    .map((n) => uncordonedAt.get(n)!.at(-1)! - cordonedAt.get(n)!.at(-1)!);
  console.log(
    `one node's cycle (cordon -> uncordon):      ${stats(cycle)}  (reboot delay ${REBOOT_DELAY_MS} ms)`,
  );

  // 2 + 3. all remaining nodes at once: release -> next cordon, and the total
  const rest = cluster.nodes.slice(3);
  const t0 = Date.now();
  const freedBefore = lockFreedAt.length;
  for (const n of rest) cluster.requireReboot(n);
  await until('the rolling reboot', () => rest.every((n) => (uncordonedAt.get(n)?.length ?? 0) > 0) && !held);
  const total = Date.now() - t0;
  const handoffs: number[] = [];
  const cordons = rest.flatMap((n) => cordonedAt.get(n) ?? []).sort((a, b) => a - b);
  for (const freed of lockFreedAt.slice(freedBefore)) {
    const next = cordons.find((c) => c >= freed);
    if (next !== undefined) handoffs.push(next - freed);
  }
  console.log(`lock released -> next node cordoned:        ${stats(handoffs)}`);
  const ideal = rest.length * (cycle.reduce((a, b) => a + b, 0) / cycle.length);
  console.log(
    `rolling reboot of ${rest.length} nodes at concurrency 1:       ${total} ms; N x cycle = ${Math.round(ideal)} ms (${((total / ideal - 1) * 100).toFixed(1)}% over)`,
  );
  await fleet.stopAll();
} finally {
  for (const w of watches) w.abort();
  await cluster.stop();
}
