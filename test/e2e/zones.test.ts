/**
 * Zone-aware concurrency on the real control plane: 6 nodes over 3 zones (the testbed's
 * topology.kubernetes.io/zone, round robin), all needing a reboot, --concurrency=2 --max-zones=1:
 * never two zones disrupted at once, never more than 2 nodes, each node rebooted exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, type V1Node, Watch } from '@kubernetes/client-node';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { CYCLE, eventReasons, lockValue, nodeState, waitFor } from './support/scenario.ts';

const ZONE = 'topology.kubernetes.io/zone';
let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 6, rebootDelayMs: 1000 });
});
after(async () => {
  await cluster?.stop();
});

/** Follows every Node: the most zones and nodes ever disrupted (cordoned or not Ready) at once. */
async function zoneObserver() {
  const kc = cluster.kubeConfig();
  const list = await kc.makeApiClient(CoreV1Api).listNode();
  const state = new Map<string, { zone: string; disrupted: boolean }>();
  const seen = { maxZones: 0, maxNodes: 0, worst: '' };
  const update = (n: V1Node) => {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    state.set(n.metadata?.name ?? '', {
      zone: n.metadata?.labels?.[ZONE] ?? '',
      disrupted: n.spec?.unschedulable === true || !ready,
    });
    const down = [...state].filter(([, s]) => s.disrupted);
    const zones = new Set(down.map(([, s]) => s.zone));
    if (zones.size > seen.maxZones || down.length > seen.maxNodes) {
      seen.worst = down.map(([name, s]) => `${name}(${s.zone})`).join(',');
    }
    seen.maxZones = Math.max(seen.maxZones, zones.size);
    seen.maxNodes = Math.max(seen.maxNodes, down.length);
  };
  for (const n of list.items) update(n);
  let ctl: AbortController | undefined;
  let stopped = false;
  // client-node's Watch ends after 30 s without data: re-open it, resuming where it stopped.
  let rv = list.metadata?.resourceVersion;
  const open = async (): Promise<void> => {
    if (stopped) return;
    ctl = await new Watch(kc).watch(
      '/api/v1/nodes',
      { resourceVersion: rv },
      (_t, n: V1Node) => {
        rv = n.metadata?.resourceVersion ?? rv;
        update(n);
      },
      () => void open(),
    );
  };
  await open();
  return {
    seen,
    stop: () => {
      stopped = true;
      ctl?.abort();
    },
  };
}

test('--concurrency=2 --max-zones=1: one zone at a time, at most 2 nodes, each rebooted once', async () => {
  const fleet = new Fleet(cluster, { dsName: 'kured-zones', args: ['--concurrency=2', '--max-zones=1'] });
  await fleet.createLockDaemonSet();
  const observer = await zoneObserver();
  try {
    for (const n of cluster.nodes) cluster.requireReboot(n);
    fleet.startAll();
    for (const n of cluster.nodes) {
      await waitFor(
        `${n} rebooted once and settled`,
        async () => {
          const s = await nodeState(cluster, n);
          return cluster.rebootCount(n) === 1 && s.ready && !s.unschedulable && !s.annotations[CYCLE];
        },
        240_000,
      );
    }
    await waitFor(
      'the lock to be empty',
      async () => (await lockValue(cluster, 'kured-zones')) === undefined,
    );
    console.log(
      `zones: at most ${observer.seen.maxZones} zone(s), ${observer.seen.maxNodes} node(s) at once`,
    );
    assert.equal(observer.seen.maxZones, 1, `two zones disrupted at once: ${observer.seen.worst}`);
    assert.ok(observer.seen.maxNodes <= 2, `more than 2 nodes disrupted: ${observer.seen.worst}`);
    // The rule let two nodes of a zone go together (concurrency used, not just one at a time).
    assert.equal(observer.seen.maxNodes, 2, 'never two nodes of one zone at once');
    for (const n of cluster.nodes) assert.equal(cluster.rebootCount(n), 1, n);
    const reasons = await eventReasons(cluster, 'node-1');
    assert.equal(reasons.filter((r) => r === 'WaitingForLock').length <= 1, true, reasons.join(','));
  } finally {
    observer.stop();
    await fleet.stopAll();
  }
});
