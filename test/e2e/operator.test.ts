/**
 * The operator commands end to end: the bundle's `history`, `pause`/`resume` and `plan` against
 * real agents on the real control plane, and the agents' budget pre-flight.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BUNDLE, Fleet, type FleetOptions } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { ClusterObserver } from '../../testbed/src/observer.ts';
import { requirePrometheus, startPrometheus } from './prometheus-server.ts';
import {
  CYCLE,
  clients,
  cyclePhase,
  deleteBudget,
  eventReasons,
  guardedPod,
  lockValue,
  nodeState,
  resetNodes,
  waitFor,
} from './support/scenario.ts';

/** An alert that always fires: plan must name it and say the rollout is blocked. */
const FIRING_RULE = `groups:
  - name: kured-ts-plan-test
    interval: 1s
    rules:
      - alert: PlanFreeze
        expr: vector(1)
`;

const HISTORY = 'kured-ts.dev/reboot-history';
const PAUSE = 'kured-ts.dev/pause';
const NEEDED = 'kured-ts.dev/reboot-needed';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 5, rebootDelayMs: 1500 });
});
after(async () => {
  await cluster?.stop();
});

/** Runs an operator command of the bundle as a user would, with the cluster's kubeconfig. */
function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BUNDLE, ...args], {
    env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** One line on stderr, no stack trace. */
function oneLine(err: string): string {
  const lines = err.trim().split('\n');
  assert.equal(lines.length, 1, `more than one line: ${err}`);
  assert.doesNotMatch(err, /\n\s+at /);
  return lines[0]!;
}

async function scenario(
  name: string,
  opts: FleetOptions,
  body: (fleet: Fleet, observer: ClusterObserver) => Promise<void>,
): Promise<void> {
  await resetNodes(cluster);
  for (const node of cluster.nodes)
    await clients(cluster).core.patchNode(
      { name: node, body: { metadata: { annotations: { [NEEDED]: null } } } },
      merge,
    );
  const fleet = new Fleet(cluster, { dsName: `kured-${name}`, ...opts });
  await fleet.createLockDaemonSet();
  const observer = new ClusterObserver(cluster);
  await observer.start();
  try {
    await body(fleet, observer);
  } finally {
    observer.stop();
    await fleet.stopAll();
  }
}

async function settled(node: string, reboots: number): Promise<void> {
  await waitFor(`${node} settled after ${reboots} reboot(s)`, async () => {
    const s = await nodeState(cluster, node);
    return cluster.rebootCount(node) === reboots && s.ready && !s.unschedulable && !s.annotations[CYCLE];
  });
}

/** The agents' flags in the DaemonSet's pod template, as the chart renders them: what plan reads. */
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

test('history after two reboots of a node shows both, with the durations the testbed saw', async () => {
  await scenario('history', {}, async (fleet) => {
    const node = 'node-1';
    const before = cluster.rebootCount(node);
    fleet.startAll([node]);
    for (const k of [1, 2]) {
      cluster.requireReboot(node);
      await settled(node, before + k);
    }
    // What the API server showed: NotReady at each reboot, then Ready on a new boot ID.
    const seen = cluster.nodeHistory(node);
    const observed: number[] = [];
    let down: number | undefined;
    for (const o of seen) {
      if (!o.ready) down ??= o.at.getTime();
      else if (down !== undefined) {
        observed.push((o.at.getTime() - down) / 1000);
        down = undefined;
      }
    }
    assert.equal(observed.length, 2, JSON.stringify(seen));
    const r = cli('history', node, '--ds-name=kured-history', '-o', 'json');
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out) as {
      node: string;
      start: string;
      outcome: string;
      rebootSeconds: number;
      drainSeconds: number;
    }[];
    assert.equal(rows.length, 2);
    assert.ok(rows[0]!.start > rows[1]!.start, 'newest first');
    const last2 = observed.slice(-2).reverse();
    rows.forEach((row, i) => {
      assert.equal(row.outcome, 'rebooted');
      assert.equal(typeof row.drainSeconds, 'number');
      // From the request (just before the node went down) to Ready on the new boot, as the agent saw it.
      assert.ok(
        // Within what the agent can know: the Ready condition has second precision, and when the
        // node went down before the request was recorded, it counts from the drain's end.
        row.rebootSeconds >= last2[i]! - 1.5 && row.rebootSeconds <= last2[i]! + 3,
        `recorded ${row.rebootSeconds}s, the testbed's reboot took ${last2[i]}s`,
      );
    });
    const table = cli('history', node, '--ds-name=kured-history');
    assert.match(table.out, /^NODE\s+START\s+OUTCOME\s+DRAIN\s+REBOOT\s+TOTAL\s+REASON/);
    assert.equal(table.out.trim().split('\n').length, 3);
  });
});

test('bad input gets one clear line: an unknown node, a malformed history, an unknown context', async () => {
  await scenario('badinput', {}, async () => {
    const unknown = cli('history', 'no-such-node', '--ds-name=kured-badinput');
    assert.equal(unknown.code, 1);
    assert.match(oneLine(unknown.err), /no node "no-such-node" in the cluster/);
    await clients(cluster).core.patchNode(
      { name: 'node-5', body: { metadata: { annotations: { [HISTORY]: '{not json' } } } },
      merge,
    );
    const bad = cli('history', 'node-5', '--ds-name=kured-badinput');
    assert.equal(bad.code, 1);
    assert.match(oneLine(bad.err), /node node-5: the kured-ts.dev\/reboot-history annotation is not JSON/);
    const all = cli('history', '--ds-name=kured-badinput');
    assert.equal(all.code, 0, 'the other nodes are still listed');
    assert.match(oneLine(all.err), /node-5/);
    const ctx = cli('plan', '--ds-name=kured-badinput', '--context', 'nope');
    assert.equal(ctx.code, 1);
    assert.match(oneLine(ctx.err), /--context: no context "nope"/);
    const ds = cli('plan', '--ds-name=missing');
    assert.match(oneLine(ds.err), /no DaemonSet kube-system\/missing/);
    await clients(cluster).core.patchNode(
      { name: 'node-5', body: { metadata: { annotations: { [HISTORY]: null } } } },
      merge,
    );
  });
});

test("pause during a cycle lets it finish, holds every other node with kured's manual lock, resume lets them go", async () => {
  await scenario(
    'pause',
    { nodeArgs: (n) => (n === 'node-1' ? ['--reboot-delay=3s'] : []) },
    async (fleet, observer) => {
      const ds = 'kured-pause';
      const before = new Map(cluster.nodes.map((n) => [n, cluster.rebootCount(n)]));
      cluster.requireReboot('node-1');
      fleet.startAll(['node-1', 'node-2', 'node-3']);
      await waitFor(
        'node-1 to be in its cycle',
        async () => (await cyclePhase(cluster, 'node-1')) === 'rebooting',
      );
      const paused = cli('pause', `--ds-name=${ds}`, '--reason', 'release freeze');
      assert.equal(paused.code, 0, paused.err);
      assert.match(paused.out, /manual lock is written when node-1 releases the lock/);
      cluster.requireReboot('node-2');
      cluster.requireReboot('node-3');
      await settled('node-1', before.get('node-1')! + 1);
      // node-1's release wrote kured's manual lock in its place, byte for byte kured's single form.
      const record = JSON.parse(
        (await clients(cluster).apps.readNamespacedDaemonSet({ name: ds, namespace: 'kube-system' }))
          .metadata!.annotations![PAUSE]!,
      );
      await waitFor(
        'the manual lock',
        async () =>
          (await lockValue(cluster, ds)) ===
          `{"nodeID":"manual","metadata":{"unschedulable":false},"created":"${record.created}","TTL":0}`,
      );
      assert.equal(record.lock, 'written');
      assert.equal(record.reason, 'release freeze');
      // Every other node is held: for 5 s, no reboot and no cordon.
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        for (const n of ['node-2', 'node-3']) {
          assert.equal(cluster.rebootCount(n), before.get(n), `${n} rebooted while paused`);
          assert.equal((await nodeState(cluster, n)).unschedulable, false, `${n} cordoned while paused`);
        }
        await delay(250);
      }
      const status = cli('status', `--ds-name=${ds}`);
      assert.match(status.out, /^paused by \S+ \d+s ago: release freeze$/m);
      const plan = cli('plan', `--ds-name=${ds}`);
      assert.equal(plan.code, 2, plan.out);
      assert.match(plan.out, /blocked: paused by \S+ \d+s ago: release freeze/);
      // Resume: what pause wrote is gone, and the waiting nodes go within seconds.
      const resumedAt = Date.now();
      const resumed = cli('resume', `--ds-name=${ds}`);
      assert.equal(resumed.code, 0, resumed.err);
      assert.equal(
        (await clients(cluster).apps.readNamespacedDaemonSet({ name: ds, namespace: 'kube-system' })).metadata
          ?.annotations?.[PAUSE],
        undefined,
      );
      await waitFor(
        'a waiting node to take the lock after resume',
        async () => {
          const v = await lockValue(cluster, ds);
          return v !== undefined && /node-[23]/.test(v);
        },
        15_000,
      );
      const tookMs = Date.now() - resumedAt;
      await settled('node-2', before.get('node-2')! + 1);
      await settled('node-3', before.get('node-3')! + 1);
      assert.ok(tookMs < 10_000, `took ${tookMs} ms`);
      assert.equal(observer.maxDisrupted, 1);
      assert.equal(
        cli('resume', `--ds-name=${ds}`).out.trim(),
        'not paused and no rollout halted: nothing to resume',
      );
    },
  );
});

test('pause keeps the multi-owner form and resume restores it', async () => {
  const ds = 'kured-pausemulti';
  await resetNodes(cluster);
  const fleet = new Fleet(cluster, { dsName: ds });
  const holder =
    '{"nodeID":"node-9","metadata":{"unschedulable":false},"created":"2026-11-23T11:59:00Z","TTL":0}';
  const multi = `{"maxOwners":2,"locks":[${holder}]}`;
  await fleet.createLockDaemonSet({ 'weave.works/kured-node-lock': multi });
  await setAgentArgs(ds, ['--concurrency=2']);
  assert.equal(cli('pause', `--ds-name=${ds}`).code, 0);
  const ann = (await clients(cluster).apps.readNamespacedDaemonSet({ name: ds, namespace: 'kube-system' }))
    .metadata!.annotations!;
  const created = JSON.parse(ann[PAUSE]!).created;
  const manual = `{"nodeID":"manual","metadata":{"unschedulable":false},"created":"${created}","TTL":0}`;
  assert.equal(ann['weave.works/kured-node-lock'], `{"maxOwners":2,"locks":[${holder},${manual},${manual}]}`);
  assert.equal(cli('resume', `--ds-name=${ds}`).code, 0);
  assert.equal(await lockValue(cluster, ds), multi);
});

test("the agent's budget pre-flight leaves the slot to another node, and goes once the budget allows", async () => {
  await scenario('preflight', { args: ['--period=3s'] }, async (fleet) => {
    const ns = 'preflight';
    await guardedPod(cluster, ns, 'node-4');
    const before = [cluster.rebootCount('node-4'), cluster.rebootCount('node-5')];
    cluster.requireReboot('node-4');
    cluster.requireReboot('node-5');
    fleet.startAll(['node-4', 'node-5']);
    // node-5 goes; node-4 neither takes the lock nor cordons while the budget allows no disruption.
    await settled('node-5', before[1]! + 1);
    await waitFor('node-4 to say the budget blocks it', async () =>
      (await eventReasons(cluster, 'node-4')).includes('RebootBlocked'),
    );
    assert.ok(
      fleet.messages('node-4').some((m) => m.includes('budget preflight/guard allows 0 disruptions')),
      'the agent logs which budget blocks it',
    );
    assert.equal((await nodeState(cluster, 'node-4')).unschedulable, false);
    assert.equal(cluster.rebootCount('node-4'), before[0]);
    assert.doesNotMatch((await lockValue(cluster, 'kured-preflight')) ?? '', /node-4/);
    const plan = cli('plan', '--ds-name=kured-preflight');
    assert.equal(plan.code, 2);
    assert.match(plan.out, /node-4: pod preflight\/guarded: budget preflight\/guard allows 0 disruptions/);
    await deleteBudget(cluster, ns);
    await settled('node-4', before[0]! + 1);
  });
});

test('plan names each cause (window, firing alert, blocking pod, budget at 0) and exits 2; cleared, it exits 0', async () => {
  await scenario('plan', {}, async (fleet) => {
    const ds = 'kured-plan';
    // The agents run with a closed window: they record that a reboot is needed and wait.
    const now = new Date();
    const hh = (d: Date) =>
      `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const closed = [
      `--start-time=${hh(new Date(now.getTime() + 3 * 3600_000))}`,
      `--end-time=${hh(new Date(now.getTime() + 4 * 3600_000))}`,
    ];
    await setAgentArgs(ds, closed);
    for (const n of ['node-1', 'node-2']) cluster.requireReboot(n);
    fleet.opts.args = closed;
    try {
      fleet.startAll(['node-1', 'node-2']);
      await waitFor('both agents to record the reboot as needed', async () => {
        for (const n of ['node-1', 'node-2'])
          if (!(await nodeState(cluster, n)).annotations[NEEDED]) return false;
        return true;
      });
    } finally {
      // Stop the agents only: stopAll would also delete the DaemonSet plan reads.
      for (const n of ['node-1', 'node-2']) await fleet.stop(n);
    }
    const window = cli('plan', `--ds-name=${ds}`);
    assert.equal(window.code, 2, `${window.out}${window.err}`);
    assert.match(window.out, /^window: closed: outside the reboot window .*; opens 20/m);

    // A blocking pod on node-2 and a budget at 0 on node-1, window open.
    await setAgentArgs(ds, ['--blocking-pod-selector=app=blocker']);
    await cluster.createNamespace('planpods');
    await clients(cluster).core.createNamespacedPod({
      namespace: 'planpods',
      body: {
        metadata: { name: 'blocker', labels: { app: 'blocker' } },
        spec: { nodeName: 'node-2', containers: [{ name: 'c', image: 'c:1' }] },
      },
    });
    await guardedPod(cluster, 'planbudget', 'node-1');
    const blocked = cli('plan', `--ds-name=${ds}`, '-o', 'wide');
    assert.equal(blocked.code, 2, blocked.out);
    assert.match(blocked.out, /node-2: pod matching "app=blocker" on this node: planpods\/blocker/);
    assert.match(
      blocked.out,
      /node-1: pod planbudget\/guarded: budget planbudget\/guard allows 0 disruptions/,
    );
    const json = JSON.parse(cli('plan', `--ds-name=${ds}`, '-o', 'json').out);
    assert.equal(json.canProceed, false);

    // Cleared: no blocking pod, no budget at 0: exit 0, and the order the agents then follow.
    await clients(cluster).core.deleteNamespacedPod({
      namespace: 'planpods',
      name: 'blocker',
      gracePeriodSeconds: 0,
    });
    await deleteBudget(cluster, 'planbudget');
    await waitFor(
      'the blocking pod to be gone',
      async () =>
        (await clients(cluster).core.listNamespacedPod({ namespace: 'planpods' })).items.length === 0,
    );
    const clear = cli('plan', `--ds-name=${ds}`);
    assert.equal(clear.code, 0, clear.out);
    assert.match(clear.out, /the rollout can proceed$/m);

    // A firing alert, from a real Prometheus, blocks too and is named.
    requirePrometheus();
    const promDir = mkdtempSync(join(tmpdir(), 'kured-ts-plan-prometheus-'));
    const prometheus = await startPrometheus(promDir, { rules: FIRING_RULE });
    try {
      const withAlerts = () => cli('plan', `--ds-name=${ds}`, `--prometheus-url=${prometheus.url}`);
      await waitFor('plan to see PlanFreeze firing', async () => /PlanFreeze/.test(withAlerts().out));
      const alert = withAlerts();
      assert.equal(alert.code, 2, alert.out);
      assert.match(alert.out, /^blocked: .*PlanFreeze/m);
    } finally {
      prometheus.stop();
      rmSync(promDir, { recursive: true, force: true });
    }

    // The order: node-2 takes the lock first (its agent starts first, slowed by --reboot-delay);
    // plan, run during its cycle, puts it first and node-1 next, and the agents follow that order.
    const args = ['--blocking-pod-selector=app=blocker'];
    await setAgentArgs(ds, args);
    fleet.opts.args = args;
    fleet.opts.nodeArgs = (n) => (n === 'node-2' ? ['--reboot-delay=3s'] : []);
    const before = new Map(['node-1', 'node-2'].map((n) => [n, cluster.rebootCount(n)]));
    const cordoned: string[] = [];
    const watch = setInterval(() => {
      for (const n of ['node-1', 'node-2'])
        void nodeState(cluster, n).then(
          (st) => st.unschedulable && !cordoned.includes(n) && cordoned.push(n),
          () => {},
        );
    }, 100);
    try {
      fleet.start('node-2');
      await waitFor('node-2 in its cycle', async () => (await cyclePhase(cluster, 'node-2')) !== undefined);
      const during = cli('plan', `--ds-name=${ds}`, '-o', 'json');
      assert.equal(during.code, 0, during.out);
      const order = (JSON.parse(during.out) as { nodes: { node: string }[] }).nodes.map((n) => n.node);
      assert.deepEqual(order, ['node-2', 'node-1']);
      fleet.start('node-1');
      for (const n of order) await settled(n, before.get(n)! + 1);
      assert.deepEqual(cordoned, order, 'the agents went in the order plan printed');
    } finally {
      clearInterval(watch);
    }
  });
});

test('plan without the right to list budgets: one clear line', async () => {
  await scenario('planrbac', {}, async () => {
    const token = await cluster.serviceAccountToken('default', 'default');
    const kubeconfig = cluster.kubeconfigForToken(token, 'no-rights');
    // The default ServiceAccount may not even read the DaemonSet: still one line, naming the cause.
    const r = spawnSync(
      process.execPath,
      [BUNDLE, 'plan', '--ds-name=kured-planrbac', '--kubeconfig', kubeconfig],
      {
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /forbidden/i);
    // With read access to everything but budgets, the budget pre-flight names the missing grant.
    const { RbacAuthorizationV1Api } = await import('@kubernetes/client-node');
    const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: 'plan-without-budgets' },
        rules: [
          { apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['get', 'list'] },
          { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'plan-without-budgets' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'plan-without-budgets' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'default' }],
      },
    });
    await clients(cluster).core.patchNode(
      {
        name: 'node-3',
        body: { metadata: { annotations: { [NEEDED]: '2026-11-23T12:00:00Z' } } },
      },
      merge,
    );
    try {
      const plan = await waitFor('the grant to be effective', () => {
        const p = spawnSync(
          process.execPath,
          [BUNDLE, 'plan', '--ds-name=kured-planrbac', '--kubeconfig', kubeconfig],
          {
            env: { PATH: process.env.PATH ?? '' },
            encoding: 'utf8',
          },
        );
        return /PodDisruptionBudgets/.test(p.stderr) && p;
      });
      assert.equal(plan.status, 1);
      assert.match(
        oneLine(plan.stderr),
        /cannot list PodDisruptionBudgets .*needs list on policy\/poddisruptionbudgets/,
      );
    } finally {
      await clients(cluster).core.patchNode(
        { name: 'node-3', body: { metadata: { annotations: { [NEEDED]: null } } } },
        merge,
      );
    }
  });
});
