/**
 * Measures what a rolling reboot costs the API server, per hand-over, through the recording proxy:
 * `node test/e2e/support/handover-cost.ts <nodes> <needing>` (the bundle in dist/, --concurrency=1).
 * A measuring aid for the fleet engineer, not a test; bench/fleet.ts is the benchmark.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Fleet } from '../../../testbed/src/fleet.ts';
import { startCluster } from '../../../testbed/src/index.ts';
import { AuditProxy } from '../helm-audit.ts';
import { CYCLE, lockValue, nodeState, waitFor } from './scenario.ts';

const nodes = Number(process.argv[2] ?? 12);
const needing = Number(process.argv[3] ?? 6);
const cluster = await startCluster({ nodes, rebootDelayMs: 1000 });
const pki = path.join(cluster.dir, 'pki');
const proxy = new AuditProxy(cluster.server, {
  caFile: cluster.caFile,
  certFile: path.join(pki, 'apiserver.crt'),
  keyFile: path.join(pki, 'apiserver.key'),
});
const server = await proxy.start();
const kubeconfig = path.join(cluster.dir, 'via-proxy.kubeconfig');
fs.writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: "${server}", certificate-authority: "${cluster.caFile}"}}]
users: [{name: a, user: {token: "${cluster.kubeConfig().getCurrentUser()?.token}"}}]
contexts: [{name: a, context: {cluster: t, user: a}}]
current-context: a
`,
);
const fleet = new Fleet(cluster, { dsName: 'kured-cost', kubeconfig });
await fleet.createLockDaemonSet();
try {
  fleet.startAll();
  await waitFor(
    'every agent to have looked once',
    () => cluster.nodes.every((n) => fleet.messages(n).some((m) => /no reboot needed/.test(m))),
    120_000,
  );
  await new Promise((r) => setTimeout(r, 3000));
  proxy.clear();
  const idleStart = Date.now();
  await new Promise((r) => setTimeout(r, 30_000));
  const idle = proxy.entries.length;
  console.log(`idle: ${idle} requests from ${nodes} agents in ${(Date.now() - idleStart) / 1000}s`);
  proxy.clear();
  const targets = cluster.nodes.slice(0, needing);
  const started = Date.now();
  for (const n of targets) cluster.requireReboot(n);
  for (const n of targets) {
    await waitFor(
      `${n} settled`,
      async () => {
        const s = await nodeState(cluster, n);
        return cluster.rebootCount(n) === 1 && s.ready && !s.unschedulable && !s.annotations[CYCLE];
      },
      600_000,
    );
  }
  await waitFor('the lock empty', async () => (await lockValue(cluster, 'kured-cost')) === undefined);
  const e = proxy.entries;
  const count = (grant: string, status?: number) =>
    e.filter((x) => x.grant === grant && (status === undefined || x.status === status)).length;
  const hand = needing - 1;
  const rows = [
    ['all requests', e.length],
    ['DaemonSet patch', count('apps daemonsets patch')],
    ['DaemonSet patch 409', count('apps daemonsets patch', 409)],
    ['DaemonSet get', count('apps daemonsets get')],
    ['DaemonSet watch', count('apps daemonsets watch')],
    ['Node get', count('core nodes get')],
    ['Node list', count('core nodes list')],
    ['Node watch', count('core nodes watch')],
    ['Node patch', count('core nodes patch')],
    ['Events', count('events.k8s.io events create')],
  ] as const;
  console.log(
    `rollout of ${needing} of ${nodes} nodes, --concurrency=1, ${((Date.now() - started) / 1000).toFixed(1)} s, ${hand} hand-overs`,
  );
  // Hand-over latency: a holder's "released the lock" to the next node's "cordoned", from the agents' logs.
  const times = (msg: string) =>
    targets
      .flatMap((n) => fleet.log(n))
      .flatMap((l) => {
        try {
          const j = JSON.parse(l) as { msg?: string; time?: string | number };
          return j.msg === msg && j.time ? [new Date(j.time).getTime()] : [];
        } catch {
          return [];
        }
      })
      .sort((a, b) => a - b);
  const released = times('released the lock');
  const cordoned = times('cordoned');
  const gaps = released
    .slice(0, -1)
    .map((r, i) => (cordoned[i + 1] ?? r) - r)
    .sort((a, b) => a - b);
  console.log(
    `  hand-over latency      median ${gaps[Math.floor(gaps.length / 2)]} ms, max ${gaps.at(-1)} ms`,
  );
  for (const [what, n] of rows)
    console.log(`  ${what.padEnd(22)} ${String(n).padStart(5)}  ${(n / hand).toFixed(1)} per hand-over`);
} finally {
  await fleet.stopAll();
  await proxy.stop();
  await cluster.stop();
}
