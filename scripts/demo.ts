/**
 * `make demo`: a real rolling reboot on the local control plane. Five simulated nodes, five real
 * agents (the bundle), three nodes needing a reboot, a web Deployment under a PodDisruptionBudget
 * whose replicas the controllers move off each drained node.
 * A live table shows each node and the lock holder; a summary checks what matters and exits.
 */
import { AppsV1Api, CoreV1Api, PolicyV1Api, type V1Pod } from '@kubernetes/client-node';
import { CYCLE_ANNOTATION } from '../src/core/cycle.ts';
import { describeHolders, parseLock } from '../src/core/lock/codec.ts';
import { Fleet } from '../testbed/src/fleet.ts';
import { type Cluster, pollUntil, startCluster } from '../testbed/src/index.ts';
import { ClusterObserver } from '../testbed/src/observer.ts';

const NEEDING = ['node-1', 'node-3', 'node-5'];
const LOCK = 'weave.works/kured-node-lock';
const TIMEOUT_MS = 5 * 60_000;
const SHOP = 'shop';
const WEB_REPLICAS = 5;
const tty = process.stdout.isTTY === true;

async function main(): Promise<number> {
  const cluster = await startCluster({ nodes: 5, rebootDelayMs: 4000, log: (l) => console.log(l) });
  const stop = async () => {
    await fleet?.stopAll();
    observer?.stop();
    await cluster.stop();
  };
  let fleet: Fleet | undefined;
  let observer: ClusterObserver | undefined;
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await deployWeb(cluster);
    observer = new ClusterObserver(cluster);
    await observer.start();
    fleet = new Fleet(cluster, { args: ['--period=1h'] });
    await fleet.createLockDaemonSet();
    fleet.startAll();
    for (const n of NEEDING) cluster.requireReboot(n);
    console.log(
      `\nkured-ts demo: ${NEEDING.join(', ')} need a reboot; the web pods (5) must keep 4 available.\n`,
    );
    const started = Date.now();
    let last = '';
    for (;;) {
      const view = await render(cluster, started);
      if (view.text !== last) {
        process.stdout.write(tty ? `\x1b[H\x1b[2J${view.text}` : `${view.text}\n`);
        last = view.text;
      }
      if (view.done) break;
      if (Date.now() - started > TIMEOUT_MS) {
        console.error(
          'kured-ts demo: the rolling reboot did not finish within 5 minutes; agent logs are in',
          cluster.dir,
        );
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const tookMs = Date.now() - started;
    // Look once more, after the fact: nothing may have moved since the table said "done".
    const settled = (await render(cluster, started)).done;
    return summary(cluster, observer, tookMs, settled);
  } finally {
    await stop();
  }
}

/** The web shop: a real Deployment (the scheduler places its pods) under a PodDisruptionBudget. */
async function deployWeb(cluster: Cluster): Promise<void> {
  const kc = cluster.kubeConfig();
  await cluster.createNamespace(SHOP);
  const labels = { app: 'web' };
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: SHOP,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: WEB_REPLICAS,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    },
  });
  await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace: SHOP,
    body: {
      metadata: { name: 'web' },
      spec: { minAvailable: WEB_REPLICAS - 1, selector: { matchLabels: labels } },
    },
  });
  await pollUntil(
    async () => {
      const pods = await webPods(cluster);
      return pods.length === WEB_REPLICAS && pods.every((p) => podReady(p));
    },
    { timeoutMs: 60_000, describe: () => 'kured-ts demo: the web Deployment did not get its pods Ready' },
  );
}

async function webPods(cluster: Cluster): Promise<V1Pod[]> {
  const list = await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: SHOP, labelSelector: 'app=web' });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

function podReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function render(cluster: Cluster, started: number) {
  const kc = cluster.kubeConfig();
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
  const ds = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system' });
  // Where the web replicas are now: Ready ones, and any not (yet) Ready in brackets.
  const placement = new Map<string, { ready: number; other: number }>();
  for (const p of await webPods(cluster)) {
    const node = p.spec?.nodeName || '(pending)';
    const at = placement.get(node) ?? { ready: 0, other: 0 };
    if (podReady(p)) at.ready++;
    else at.other++;
    placement.set(node, at);
  }
  const webCell = (node: string) => {
    const at = placement.get(node);
    return at ? `${at.ready}${at.other ? ` (+${at.other} starting)` : ''}` : '0';
  };
  const rows = nodes.map((n) => {
    const name = n.metadata?.name ?? '';
    const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const status = `${ready ? 'Ready' : 'NotReady'}${n.spec?.unschedulable ? ',SchedulingDisabled' : ''}`;
    const cycle = n.metadata?.annotations?.[CYCLE_ANNOTATION];
    const phase = cycle
      ? (JSON.parse(cycle) as { phase: string }).phase
      : cluster.rebootCount(name) > 0
        ? 'rebooted'
        : '-';
    const boot = (n.status?.nodeInfo?.bootID ?? '').slice(0, 8);
    return {
      name,
      status,
      phase,
      boot,
      reboots: cluster.rebootCount(name),
      web: webCell(name),
      ready,
      cycle,
    };
  });
  const header = ['NODE', 'STATUS', 'CYCLE', 'BOOT ID', 'REBOOTS', 'WEB PODS'];
  const cells = rows.map((r) => [r.name, r.status, r.phase, r.boot, String(r.reboots), r.web]);
  const pending = placement.get('(pending)');
  if (pending) cells.push(['(unscheduled)', '', '', '', '', webCell('(pending)')]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  const holders = describeHolders(parseLock(ds.metadata?.annotations?.[LOCK]), new Date());
  const webReady = [...placement.values()].reduce((n, p) => n + p.ready, 0);
  const text = [
    line(header),
    ...cells.map(line),
    '',
    `lock (${LOCK} on kube-system/kured): ${holders}`,
    `web: ${webReady}/${WEB_REPLICAS} Ready (a Deployment under a PodDisruptionBudget, minAvailable ${WEB_REPLICAS - 1})`,
    `elapsed: ${Math.round((Date.now() - started) / 1000)}s`,
    '',
  ].join('\n');
  const done =
    holders === 'nobody' &&
    webReady === WEB_REPLICAS &&
    NEEDING.every((n) => cluster.rebootCount(n) >= 1) &&
    rows.every((r) => r.ready && !r.status.includes('SchedulingDisabled') && !r.cycle);
  // The elapsed line changes every second; only redraw a non-TTY log when the state changes.
  return { text: tty ? text : text.replace(/elapsed: \d+s\n/, ''), done };
}

function summary(cluster: Cluster, observer: ClusterObserver, tookMs: number, settled: boolean): number {
  const checks: [string, boolean][] = [
    ...NEEDING.map((n): [string, boolean] => [`${n} rebooted exactly once`, cluster.rebootCount(n) === 1]),
    ...cluster.nodes
      .filter((n) => !NEEDING.includes(n))
      .map((n): [string, boolean] => [`${n} not rebooted`, cluster.rebootCount(n) === 0]),
    [`at most one node disrupted at a time (max seen: ${observer.maxDisrupted})`, observer.maxDisrupted <= 1],
    [`every node Ready and uncordoned, lock released, web ${WEB_REPLICAS}/${WEB_REPLICAS} Ready`, settled],
  ];
  console.log('\nSummary');
  for (const [what, ok] of checks) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  console.log(`  rolling reboot of ${NEEDING.length} nodes took ${(tookMs / 1000).toFixed(1)}s`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`kured-ts demo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
