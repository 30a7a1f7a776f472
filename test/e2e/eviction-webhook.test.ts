/**
 * Evictions denied by a real validating admission webhook (kured#1269: Strimzi's Drain Cleaner
 * denies a broker's eviction and moves it itself) are retried with backoff until the drain timeout,
 * like a budget's 429, with the webhook's message in the reason, in an Event and in `kured-ts status`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { Clock } from '../../src/core/ports.ts';
import { createDrainer } from '../../src/drain/drainer.ts';
import { connect } from '../../src/kube/client.ts';
import { BUNDLE, Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { DENIAL, startEvictionWebhook } from './support/eviction-webhook.ts';
import { CYCLE, eventReasons, nodeState, waitFor } from './support/scenario.ts';

let cluster: Cluster;
let core: CoreV1Api;
before(async () => {
  cluster = await startCluster({ nodes: 3, namePrefix: 'wh', rebootDelayMs: 1500 });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
});
after(() => cluster?.stop());

const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
};

async function brokerOn(namespace: string, node: string): Promise<void> {
  await cluster.createNamespace(namespace);
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'broker' },
      spec: {
        nodeName: node,
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'kafka', image: 'kafka:1' }],
      },
    },
  });
}

function drainer(retryDelayMs: number) {
  const denied: string[] = [];
  const d = createDrainer(connect({ KUBECONFIG: cluster.kubeconfigPath }), {
    gracePeriodSeconds: -1,
    podSelector: '',
    skipWaitForDeleteTimeoutSeconds: 0,
    clock: realClock,
    logger: pino({ level: 'silent' }),
    retryDelayMs,
    onDenied: (pod, cause) => denied.push(`${pod}: ${cause}`),
  });
  return { drainer: d, denied };
}

const WEBHOOK_MESSAGE = (name: string) => `admission webhook "${name}" denied the request: ${DENIAL}`;

test('denied three times, then allowed: the drain keeps trying and succeeds', {
  timeout: 120_000,
}, async () => {
  await brokerOn('kafka-a', 'wh-1');
  const webhook = await startEvictionWebhook(cluster, 'kafka-a', 'broker', 3);
  try {
    const { drainer: d, denied } = drainer(200);
    const result = await d.drain('wh-1', { deadline: new Date(Date.now() + 60_000) });
    assert.deepEqual(result, { ok: true, evicted: 1 });
    assert.equal(webhook.denied, 3);
    assert.equal(webhook.allowed, 1);
    // Told once for the pod and its message, not at each of the three denials.
    assert.deepEqual(denied, [`kafka-a/broker: ${WEBHOOK_MESSAGE(webhook.name)}`]);
  } finally {
    await webhook.stop();
  }
});

test("denied until the drain timeout: not evicted, the webhook's message in the reason, not permanent", {
  timeout: 120_000,
}, async () => {
  await brokerOn('kafka-b', 'wh-2');
  // 422: a client error that was taken as final before kured-ts retried webhook denials.
  const webhook = await startEvictionWebhook(cluster, 'kafka-b', 'broker', Number.POSITIVE_INFINITY, 422);
  try {
    const { drainer: d } = drainer(200);
    const started = Date.now();
    const result = await d.drain('wh-2', { deadline: new Date(Date.now() + 4_000) });
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.permanent, false);
    assert.equal(
      result.reason,
      `1 pod not evicted before the drain timeout: kafka-b/broker (${WEBHOOK_MESSAGE(webhook.name)})`,
    );
    assert.ok(Date.now() - started >= 3_500, 'gave up before the drain timeout');
    // Backoff, not a busy loop: 200 ms doubling (+-20%) makes at most 5 attempts in 4 s.
    assert.ok(webhook.denied >= 3 && webhook.denied <= 6, `${webhook.denied} attempts in 4 s`);
  } finally {
    await webhook.stop();
  }
});

test('an agent whose drain a webhook denies waits, says why in status, then reboots once allowed', {
  timeout: 180_000,
}, async () => {
  const node = 'wh-3';
  await brokerOn('kafka-c', node);
  const webhook = await startEvictionWebhook(cluster, 'kafka-c', 'broker', Number.POSITIVE_INFINITY);
  const fleet = new Fleet(cluster, { dsName: 'kured-webhook' });
  await fleet.createLockDaemonSet();
  try {
    const before = cluster.rebootCount(node);
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('a denied eviction', () => webhook.denied >= 1);
    const status = await waitFor('status to show the denial', () => {
      const r = spawnSync(process.execPath, [BUNDLE, 'status', '--ds-name=kured-webhook', '-o', 'json'], {
        env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
        encoding: 'utf8',
        timeout: 30_000,
      });
      const row = (JSON.parse(r.stdout) as { nodes: { node: string; lastEvent?: string }[] }).nodes.find(
        (n) => n.node === node,
      );
      return row?.lastEvent?.startsWith('EvictionDenied') ? row.lastEvent : undefined;
    });
    assert.match(
      status,
      new RegExp(`kafka-c/broker.*${WEBHOOK_MESSAGE(webhook.name).replace(/[.*"]/g, '\\$&')}`),
    );
    assert.equal((await nodeState(cluster, node)).unschedulable, true, 'cordoned while it waits');
    assert.equal(cluster.rebootCount(node), before);
    webhook.denialsLeft = 0;
    await waitFor(
      'the reboot once the webhook allows the eviction',
      async () => {
        const s = await nodeState(cluster, node);
        return (
          cluster.rebootCount(node) === before + 1 && s.ready && !s.unschedulable && !s.annotations[CYCLE]
        );
      },
      120_000,
    );
    assert.equal(webhook.allowed, 1);
    const reasons = await eventReasons(cluster, node);
    assert.ok(reasons.indexOf('EvictionDenied') < reasons.indexOf('Drained'), reasons.join(','));
    assert.ok(!reasons.includes('DrainFailed'), reasons.join(','));
  } finally {
    await fleet.stopAll();
    await webhook.stop();
  }
});
