/**
 * Maintenance windows, not-allowed dates and the overdue/fit answers, end to end: real agents (the
 * bundle) on the real control plane wait for a maintenance window that opens seconds later and
 * reboot as it opens; status, plan and /metrics show the next opening; a not-allowed date holds the
 * node; plan says whether the pending nodes fit in the next window from their measured cycles; a
 * malformed schedule is one line at startup naming the flag.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BUNDLE, Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { freePort } from './prometheus-server.ts';
import { CYCLE, clients, nodeState, resetNodes, waitFor } from './support/scenario.ts';

const DAYS = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'];
const NEEDED = 'kured-ts.dev/reboot-needed';
const HISTORY = 'kured-ts.dev/reboot-history';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let cluster: Cluster;
before(
  async () => {
    cluster = await startCluster({ nodes: 3, namePrefix: 'maint', rebootDelayMs: 1000 });
  },
  { timeout: 15 * 60_000 },
);
after(async () => {
  await cluster?.stop();
});

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BUNDLE, ...args], {
    env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const hms = (d: Date) => d.toISOString().slice(11, 19);

/** The agents' flags in the DaemonSet's pod template, as the chart renders them: what plan and status read. */
async function setAgentArgs(dsName: string, args: string[]): Promise<void> {
  await clients(cluster).apps.patchNamespacedDaemonSet(
    {
      name: dsName,
      namespace: 'kube-system',
      body: {
        spec: { template: { spec: { containers: [{ name: 'kured-ts', image: 'kured-ts:dev', args }] } } },
      },
    },
    merge,
  );
}

test('a maintenance window: the node waits, status/plan/metrics show the opening, it reboots as it opens', {
  timeout: 240_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[0]!;
  // A weekly window on today's weekday (UTC) opening 25 s from now, for one hour.
  const opens = new Date(Math.ceil((Date.now() + 25_000) / 1000) * 1000);
  const window = `weekly ${DAYS[opens.getUTCDay()]} ${hms(opens)} 1h UTC`;
  const args = ['--period=1m', `--maintenance-window=${window}`];
  const port = await freePort();
  const fleet = new Fleet(cluster, {
    dsName: 'kured-maint',
    args,
    nodeArgs: () => [`--metrics-port=${port}`],
  });
  await fleet.createLockDaemonSet();
  await setAgentArgs('kured-maint', args);
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('the agent to say it waits for the maintenance window', () =>
      fleet.log(node).find((l) => l.includes(`outside the maintenance windows (${window})`)),
    );
    const status = cli('status', '--ds-name=kured-maint');
    assert.equal(status.code, 0, status.err);
    assert.match(
      status.out,
      new RegExp(`^reboot window: closed; next opening ${opens.toISOString()} until `, 'm'),
    );
    const plan = cli('plan', '--ds-name=kured-maint');
    assert.match(
      plan.out,
      new RegExp(`^window next opens ${opens.toISOString().replace('.000Z', 'Z')}`, 'm'),
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(
        `kured_ts_reboot_window_next_opening_timestamp_seconds\\{node="${node}"\\} ${opens.getTime() / 1000}\\n`,
      ),
    );
    const needed = Number(/kured_ts_reboot_needed_seconds\{node="[^"]+"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(needed >= 0 && needed < 60, `needed for ${needed}s`);
    assert.equal(cluster.rebootCount(node), 0);
    assert.equal((await nodeState(cluster, node)).unschedulable, false);

    // It sleeps until the opening and goes then (not at its next one-minute period).
    await waitFor(
      'the node to be cordoned',
      async () => (await nodeState(cluster, node)).unschedulable,
      60_000,
    );
    const late = Date.now() - opens.getTime();
    assert.ok(late >= 0 && late < 10_000, `cordoned ${late} ms after the window opened`);
    await waitFor(
      'the reboot to complete',
      async () => {
        const s = await nodeState(cluster, node);
        return cluster.rebootCount(node) === 1 && s.ready && !s.unschedulable && !s.annotations[CYCLE];
      },
      90_000,
    );
  } finally {
    await fleet.stopAll();
  }
});

test('a not-allowed date holds the node; status shows the opening after it', {
  timeout: 120_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[1]!;
  const today = new Date().toISOString().slice(0, 10);
  const args = ['--period=2s', `--not-allowed-dates=${today}`];
  const fleet = new Fleet(cluster, { dsName: 'kured-freeze', args });
  await fleet.createLockDaemonSet();
  await setAgentArgs('kured-freeze', args);
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('the agent to say it is a not-allowed date', () =>
      fleet.log(node).find((l) => l.includes(`on a not-allowed date (${today})`)),
    );
    const tomorrow = new Date(`${today}T00:00:00Z`);
    tomorrow.setUTCDate(tomorrow.getUTCDate() + 1);
    const status = cli('status', '--ds-name=kured-freeze', '-o', 'json');
    const window = (JSON.parse(status.out) as { window: { open: boolean; nextOpening: string } }).window;
    assert.equal(window.open, false);
    assert.equal(window.nextOpening, tomorrow.toISOString());
    assert.equal(cluster.rebootCount(node), 0);
    assert.equal((await nodeState(cluster, node)).unschedulable, false);
  } finally {
    await fleet.stopAll();
  }
});

test('plan: whether the pending nodes fit in the next window at the current concurrency, from their history', {
  timeout: 120_000,
}, async () => {
  await resetNodes(cluster);
  const { core } = clients(cluster);
  // Three nodes needing a reboot, each with two measured cycles of 30 minutes.
  const cycle = (day: number) => ({
    start: `2026-01-0${day}T00:00:00Z`,
    end: `2026-01-0${day}T00:30:00Z`,
    outcome: 'rebooted',
    drainSeconds: 60,
    rebootSeconds: 120,
  });
  for (const n of cluster.nodes)
    await core.patchNode(
      {
        name: n,
        body: {
          metadata: {
            annotations: {
              [NEEDED]: '2026-01-10T00:00:00Z',
              [HISTORY]: JSON.stringify([cycle(2), cycle(1)]),
            },
          },
        },
      },
      merge,
    );
  const fleet = new Fleet(cluster, { dsName: 'kured-fit' });
  await fleet.createLockDaemonSet();
  try {
    // A one-hour window two days from now: 3 waves of 30 min start at +0, +30 min and +60 min.
    const day = DAYS[(new Date().getUTCDay() + 2) % 7];
    await setAgentArgs('kured-fit', [`--maintenance-window=weekly ${day} 22:00 1h`, '--concurrency=1']);
    const one = cli('plan', '--ds-name=kured-fit', '-o', 'json');
    const fit1 = (JSON.parse(one.out) as { window: { fits: boolean; windowsNeeded: number } }).window;
    assert.deepEqual([fit1.fits, fit1.windowsNeeded], [false, 2], one.out);
    assert.match(
      cli('plan', '--ds-name=kured-fit').out,
      /the 3 pending wave\(s\) do not fit in it at the current concurrency: they need 2 windows/,
    );
    await setAgentArgs('kured-fit', [`--maintenance-window=weekly ${day} 22:00 1h`, '--concurrency=3']);
    assert.match(
      cli('plan', '--ds-name=kured-fit').out,
      /the 1 pending wave\(s\) fit in it at the current concurrency/,
    );
  } finally {
    await fleet.stopAll();
    for (const n of cluster.nodes)
      await core.patchNode(
        { name: n, body: { metadata: { annotations: { [NEEDED]: null, [HISTORY]: null } } } },
        merge,
      );
  }
});

test('a malformed schedule is one line at startup naming the flag', () => {
  const run = (arg: string) =>
    spawnSync(process.execPath, [BUNDLE, arg], {
      env: { PATH: process.env.PATH ?? '', KURED_NODE_ID: 'n1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
  const cases: Array<[string, RegExp]> = [
    [
      '--maintenance-window=monthly fifth-mo 02:00 4h',
      /^kured-ts: --maintenance-window: cannot read "monthly fifth-mo 02:00 4h"/,
    ],
    ['--maintenance-window=weekly sa 22:00 4h Mars/Olympus', /unknown time zone "Mars\/Olympus"/],
    ['--not-allowed-dates=2026-02-30', /^kured-ts: --not-allowed-dates: cannot read "2026-02-30"/],
  ];
  for (const [arg, expected] of cases) {
    const r = run(arg);
    assert.notEqual(r.status, 0, arg);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, expected);
  }
});
