/**
 * The agent (the bundle) on the real control plane, held back by a real Prometheus alert: it takes
 * no lock and says why, notifies that it is blocked, and reboots within seconds once the alert
 * clears. Its notifications go to a local generic webhook receiver, in order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { type RunningPrometheus, requirePrometheus, startPrometheus } from './prometheus-server.ts';
import { eventReasons, lockValue, nodeState, waitFor } from './support/scenario.ts';

const RULES = `groups:
  - name: kured-ts-agent-test
    interval: 1s
    rules:
      - alert: MaintenanceFreeze
        expr: kured_ts_test_freeze > 0
      - alert: RebootRequired
        expr: vector(1)
`;

let cluster: Cluster;
let prometheus: RunningPrometheus;
let dir = '';
let freeze = 1;
let exporter: Server;
let receiver: Server;
const messages: string[] = [];
let hookUrl = '';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

before(
  async () => {
    requirePrometheus();
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-prom-agent-'));
    // The switch the test flips: Prometheus scrapes it and fires MaintenanceFreeze while it is 1.
    exporter = createServer((_req, res) => res.end(`kured_ts_test_freeze ${freeze}\n`));
    const exporterPort = await listen(exporter);
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        messages.push((JSON.parse(body) as { message: string }).message);
        res.end('ok');
      });
    });
    hookUrl = `generic+http://127.0.0.1:${await listen(receiver)}/hook`;
    prometheus = await startPrometheus(dir, {
      rules: RULES,
      extraConfig: `scrape_configs:\n  - job_name: switch\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']\n`,
    });
    cluster = await startCluster({ nodes: 2, namePrefix: 'promagent', rebootDelayMs: 1000 });
  },
  { timeout: 15 * 60_000 },
);
after(async () => {
  await cluster?.stop();
  prometheus?.stop();
  exporter?.close();
  receiver?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function firing(): Promise<string[]> {
  const res = await fetch(`${prometheus.url}/api/v1/query?query=ALERTS{alertstate="firing"}`);
  const body = (await res.json()) as { data: { result: Array<{ metric: { alertname: string } }> } };
  return body.data.result.map((r) => r.metric.alertname).sort();
}

test('a firing alert holds the reboot back; once it clears the node reboots within seconds', {
  timeout: 180_000,
}, async () => {
  const node = cluster.nodes[0] ?? '';
  await waitFor('Prometheus to fire MaintenanceFreeze', async () =>
    (await firing()).includes('MaintenanceFreeze'),
  );
  const fleet = new Fleet(cluster, {
    dsName: 'kured-prom',
    args: [
      '--period=2s',
      `--prometheus-url=${prometheus.url}`,
      // kured's advice: ignore the RebootRequired alert, or nodes would block themselves.
      '--alert-filter-regexp=^RebootRequired$',
      `--notify-url=${hookUrl}`,
      '--notify-blocked-after=1s',
    ],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    const blockedLine = await waitFor('the agent to log why it waits', () =>
      fleet.log(node).find((l) => l.includes('1 active alert in Prometheus: MaintenanceFreeze')),
    );
    assert.doesNotMatch(blockedLine, /RebootRequired/);
    await waitFor('the blocked notification', () => messages.length > 0);
    assert.equal(
      messages[0],
      `Reboot of node ${node} is blocked: 1 active alert in Prometheus: MaintenanceFreeze`,
    );
    // Several gate rechecks (2 s each) later, still nothing taken or touched.
    await delay(5_000);
    assert.equal(await lockValue(cluster, 'kured-prom'), undefined);
    assert.equal((await nodeState(cluster, node)).unschedulable, false);
    assert.equal(cluster.rebootCount(node), 0);
    assert.ok(
      (await eventReasons(cluster, node)).includes('RebootBlocked'),
      'an Event on the node says it is blocked',
    );

    freeze = 0;
    const cleared = Date.now();
    await waitFor('the node to reboot and come back uncordoned', async () => {
      const s = await nodeState(cluster, node);
      return cluster.rebootCount(node) === 1 && s.ready && !s.unschedulable;
    });
    // Scrape + evaluation (about 2 s) + one gate recheck (2 s) + drain and reboot: well under a minute.
    assert.ok(Date.now() - cleared < 45_000, `took ${Date.now() - cleared} ms after the alert cleared`);
    await waitFor('the uncordon notification', () => messages.some((m) => m.includes('uncordoned')));
    assert.deepEqual(messages, [
      `Reboot of node ${node} is blocked: 1 active alert in Prometheus: MaintenanceFreeze`,
      `Draining node ${node}`,
      `Rebooting node ${node}`,
      `Node ${node} rebooted & uncordoned successfully!`,
    ]);
    assert.ok(
      !fleet.log(node).some((l) => l.includes(hookUrl.replace('generic+http://', ''))),
      'the hook URL is never logged',
    );
  } finally {
    await fleet.stopAll();
  }
});
