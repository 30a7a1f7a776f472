/**
 * The Alertmanager and PromQL gates and the silence held during a reboot, end to end: real agents
 * (the bundle) on the real control plane, a real Alertmanager and a real Prometheus (Debian's).
 * Firing alerts block unless silenced, inhibited or not selected by --alert-matchers; a PromQL
 * expression blocks while it returns anything; --silence-during-reboot silences the node's alerts
 * from the cordon until it is healthy, also across an agent killed mid-cycle; an unreachable
 * Alertmanager holds the node (status says why); bad input is one line naming the flag.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { BUNDLE, Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import {
  fireAlert,
  type RunningAlertmanager,
  requireAlertmanager,
  resolveAlert,
  silence,
  silences,
  startAlertmanager,
  unmuted,
} from './alertmanager-server.ts';
import { freePort, type RunningPrometheus, requirePrometheus, startPrometheus } from './prometheus-server.ts';
import { CYCLE, lockValue, nodeState, resetNodes, waitFor } from './support/scenario.ts';

const RULES = `groups:
  - name: kured-ts-matchers-test
    interval: 1s
    rules:
      - alert: PageMe
        expr: kured_ts_test_freeze > 0
        labels:
          severity: page
      - alert: JustATicket
        expr: vector(1)
        labels:
          severity: ticket
`;

let cluster: Cluster;
let am: RunningAlertmanager;
let prometheus: RunningPrometheus;
let exporter: Server;
let dir = '';
const switches = { freeze: 1, hold: 1 };

before(
  async () => {
    requireAlertmanager();
    requirePrometheus();
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-alertmanager-'));
    am = await startAlertmanager(join(dir, 'am'));
    exporter = createServer((_req, res) =>
      res.end(`kured_ts_test_freeze ${switches.freeze}\nkured_ts_test_hold ${switches.hold}\n`),
    );
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const port = (exporter.address() as { port: number }).port;
    prometheus = await startPrometheus(join(dir, 'prom'), {
      rules: RULES,
      extraConfig: `scrape_configs:\n  - job_name: switch\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    });
    cluster = await startCluster({ nodes: 3, namePrefix: 'amgate', rebootDelayMs: 1000 });
  },
  { timeout: 15 * 60_000 },
);
after(async () => {
  await cluster?.stop();
  am?.stop();
  prometheus?.stop();
  exporter?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function reason(fleet: Fleet, node: string, text: string): Promise<string> {
  return waitFor(`the agent of ${node} to log "${text}"`, () =>
    fleet.log(node).find((l) => l.includes(text)),
  );
}

async function rebooted(node: string, count: number): Promise<void> {
  await waitFor(
    `${node} rebooted and settled`,
    async () => {
      const s = await nodeState(cluster, node);
      return cluster.rebootCount(node) === count && s.ready && !s.unschedulable && !s.annotations[CYCLE];
    },
    90_000,
  );
}

test('Alertmanager: active alerts block; silenced, inhibited and unselected ones do not', {
  timeout: 240_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[0]!;
  await fireAlert(am, { alertname: 'DiskFull', severity: 'critical' });
  await fireAlert(am, { alertname: 'InfoNoise', severity: 'info' });
  await fireAlert(am, { alertname: 'Silenced', severity: 'critical' });
  await silence(am, 'alertname', 'Silenced');
  await fireAlert(am, { alertname: 'Outage', severity: 'info' });
  await fireAlert(am, { alertname: 'Inhibited', severity: 'critical' });
  // What Alertmanager itself says is neither silenced nor inhibited.
  await waitFor('Alertmanager to mute Silenced and Inhibited', async () =>
    JSON.stringify(await unmuted(am)) === JSON.stringify(['DiskFull', 'InfoNoise', 'Outage'])
      ? true
      : undefined,
  );
  const fleet = new Fleet(cluster, {
    dsName: 'kured-am',
    args: ['--period=2s', `--alertmanager-url=${am.url}`, '--alert-matchers=severity=~"critical|page"'],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    const line = await reason(fleet, node, '1 firing alert in Alertmanager: DiskFull');
    assert.doesNotMatch(line, /Silenced|Inhibited|InfoNoise|Outage/);
    await delay(4000);
    assert.equal(await lockValue(cluster, 'kured-am'), undefined);
    assert.equal(cluster.rebootCount(node), 0);

    await resolveAlert(am, { alertname: 'DiskFull', severity: 'critical' });
    await rebooted(node, 1);
  } finally {
    await fleet.stopAll();
  }
});

test('Prometheus: --alert-matchers selects the ALERTS that block; --blocking-prometheus-query blocks while it returns anything', {
  timeout: 240_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[1]!;
  const before = cluster.rebootCount(node);
  switches.freeze = 1;
  switches.hold = 1;
  const fleet = new Fleet(cluster, {
    dsName: 'kured-promql',
    args: [
      '--period=2s',
      `--prometheus-url=${prometheus.url}`,
      '--alert-matchers=severity="page"',
      '--blocking-prometheus-query=kured_ts_test_hold > 0',
    ],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    // JustATicket fires all along but is not selected; PageMe is.
    const alertLine = await reason(fleet, node, '1 active alert in Prometheus: PageMe');
    assert.doesNotMatch(alertLine, /JustATicket/);
    switches.freeze = 0;
    await reason(
      fleet,
      node,
      'the query \\"kured_ts_test_hold > 0\\" returned 1 result: kured_ts_test_hold{',
    );
    assert.equal(cluster.rebootCount(node), before);
    switches.hold = 0;
    await rebooted(node, before + 1);
  } finally {
    await fleet.stopAll();
  }
});

test('--silence-during-reboot: silences from the cordon until healthy, bounded, and expired by a restarted agent', {
  timeout: 300_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[2]!;
  const before = cluster.rebootCount(node);
  const fleet = new Fleet(cluster, {
    dsName: 'kured-silence',
    args: [
      '--period=2s',
      `--alertmanager-url=${am.url}`,
      // The alerts still firing from the first test must not block this one.
      '--alert-matchers=severity="none-of-these"',
      '--silence-during-reboot=instance=~"{{node}}(:.*)?"',
      '--silence-during-reboot=node="{{node}}",severity!="critical"',
      '--silence-max-duration=10m',
      '--reboot-delay=4s',
    ],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    const ids = await waitFor('the cycle to record two silences', async () => {
      const cycle = (await nodeState(cluster, node)).annotations[CYCLE];
      const recorded = cycle ? (JSON.parse(cycle) as { silences?: string[] }).silences : undefined;
      return recorded && recorded.length === 2 ? recorded : undefined;
    });
    const made = (await silences(am)).filter((s) => ids.includes(s.id));
    assert.equal(made.length, 2);
    for (const s of made) {
      assert.equal(s.status.state, 'active');
      assert.equal(s.createdBy, 'kured-ts');
      const span = Date.parse(s.endsAt) - Date.parse(s.startsAt);
      assert.ok(span <= 10 * 60_000 + 1000, `the silence lasts ${span} ms, at most --silence-max-duration`);
    }
    const byName = Object.fromEntries(made.flatMap((s) => s.matchers.map((m) => [m.name, m])));
    assert.deepEqual(byName.instance, {
      name: 'instance',
      value: `${node}(:.*)?`,
      isRegex: true,
      isEqual: true,
    });
    assert.deepEqual(byName.node, { name: 'node', value: node, isRegex: false, isEqual: true });
    assert.deepEqual(byName.severity, {
      name: 'severity',
      value: 'critical',
      isRegex: false,
      isEqual: false,
    });

    // Killed in the middle of the cycle (during --reboot-delay): the restarted agent finishes it and
    // expires the silences this one recorded, without making new ones.
    await fleet.stop(node, 'SIGKILL');
    fleet.start(node);
    await rebooted(node, before + 1);
    await waitFor('the silences to be expired once healthy', async () =>
      (await silences(am)).filter((s) => ids.includes(s.id)).every((s) => s.status.state === 'expired'),
    );
    const ours = (await silences(am)).filter((s) => s.comment.includes(`reboot of ${node} `));
    assert.equal(ours.length, 2, 'no second pair of silences after the restart');
  } finally {
    await fleet.stopAll();
  }
});

test('an unreachable Alertmanager holds the node, never reboots it, and status says why', {
  timeout: 180_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[0]!;
  const before = cluster.rebootCount(node);
  const closed = await freePort();
  const fleet = new Fleet(cluster, {
    dsName: 'kured-amdown',
    args: ['--period=2s', `--alertmanager-url=http://127.0.0.1:${closed}`],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    await reason(
      fleet,
      node,
      `cannot query Alertmanager at http://127.0.0.1:${closed}/ (connect ECONNREFUSED`,
    );
    await delay(4000);
    assert.equal(cluster.rebootCount(node), before);
    assert.equal((await nodeState(cluster, node)).unschedulable, false);
    const status = spawnSync(process.execPath, [BUNDLE, 'status', '--ds-name=kured-amdown', '-o', 'wide'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(status.status, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`${node} .*RebootBlocked: Reboot needed; cannot query Alertmanager`),
    );
  } finally {
    await fleet.stopAll();
  }
});

test('a malformed matcher or a silence without Alertmanager is one line at startup naming the flag', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [BUNDLE, ...args], {
      env: { PATH: process.env.PATH ?? '', KURED_NODE_ID: 'n1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
  const cases: Array<[string[], RegExp]> = [
    [
      ['--alert-matchers=severity=~"("'],
      /^kured-ts: --alert-matchers: cannot read .* is not a valid regular expression/,
    ],
    [
      ['--alert-matchers=severity'],
      /^kured-ts: --alert-matchers: cannot read "severity" \(expected =, !=, =~ or !~/,
    ],
    [
      ['--alertmanager-url=alertmanager:9093'],
      /^kured-ts: --alertmanager-url: scheme alertmanager: is not supported/,
    ],
    [
      ['--silence-during-reboot=node="{{node}}"'],
      /^kured-ts: --silence-during-reboot needs --alertmanager-url/,
    ],
    [
      ['--blocking-prometheus-query=up == 0'],
      /^kured-ts: --blocking-prometheus-query needs --prometheus-url/,
    ],
  ];
  for (const [args, expected] of cases) {
    const r = run(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, expected);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
