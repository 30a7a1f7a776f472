/**
 * The reboot daemon end to end: real agents (the bundle) on the real control plane, one per
 * simulated node, rebooting nodes through the testbed. Each test has its own lock DaemonSet.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { BUNDLE, Fleet, type FleetOptions } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { ClusterObserver } from '../../testbed/src/observer.ts';
import { startSmtp } from '../unit/notify/smtp-server.ts';
import {
  CYCLE,
  cordon,
  eventReasons,
  lockValue,
  nodeState,
  resetNodes,
  setLock,
  waitFor,
} from './support/scenario.ts';

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ nodes: 5, rebootDelayMs: 1500 });
});
after(async () => {
  await cluster?.stop();
});

/** Runs body with a fresh fleet on its own lock DaemonSet; always stops the agents. */
async function scenario(
  name: string,
  opts: FleetOptions & { lock?: string; preCordoned?: string[] },
  body: (fleet: Fleet, observer: ClusterObserver) => Promise<void>,
): Promise<void> {
  await resetNodes(cluster);
  for (const n of opts.preCordoned ?? []) await cordon(cluster, n, true);
  const fleet = new Fleet(cluster, { dsName: `kured-${name}`, ...opts });
  await fleet.createLockDaemonSet(opts.lock ? { 'weave.works/kured-node-lock': opts.lock } : {});
  const observer = new ClusterObserver(cluster);
  await observer.start(opts.preCordoned);
  try {
    await body(fleet, observer);
  } finally {
    observer.stop();
    await fleet.stopAll();
  }
}

/** The node went through exactly one reboot, is schedulable (or not) and has no cycle left. */
async function settled(node: string, reboots: number, unschedulable = false): Promise<void> {
  await waitFor(`${node} settled after ${reboots} reboot(s)`, async () => {
    const s = await nodeState(cluster, node);
    return (
      cluster.rebootCount(node) === reboots &&
      s.ready &&
      s.unschedulable === unschedulable &&
      !s.annotations[CYCLE]
    );
  });
}

test('rolling reboot with the reboot command: each node once, one at a time, all uncordoned, lock released', async () => {
  const needing = ['node-1', 'node-2', 'node-3'];
  await scenario('rolling', {}, async (fleet, observer) => {
    const before = new Map(needing.map((n) => [n, cluster.rebootCount(n)]));
    for (const n of needing) cluster.requireReboot(n);
    fleet.startAll();
    for (const n of needing) await settled(n, before.get(n)! + 1);
    await waitFor(
      'the lock to be released',
      async () => (await lockValue(cluster, 'kured-rolling')) === undefined,
    );
    assert.equal(observer.maxDisrupted, 1, `disrupted together: ${observer.worstMoment.join(',')}`);
    assert.equal(cluster.rebootCount('node-4'), 0);
    assert.equal(cluster.rebootCount('node-5'), 0);
    const reasons = await eventReasons(cluster, 'node-1');
    const cycle = [
      'LockAcquired',
      'Cordoned',
      'Draining',
      'Drained',
      'Rebooting',
      'Uncordoned',
      'LockReleased',
    ];
    assert.deepEqual(reasons.filter((r) => cycle.includes(r)).slice(-cycle.length), cycle);
  });
});

test('signal reboot: signal 39 to the host init reboots the node', async () => {
  await scenario('signal', { method: 'signal' }, async (fleet) => {
    const before = cluster.rebootCount('node-4');
    cluster.requireReboot('node-4');
    fleet.startAll(['node-4']);
    await settled('node-4', before + 1);
    assert.equal(await lockValue(cluster, 'kured-signal'), undefined);
  });
});

test('an smtp:// notification goes out from the bundle, nodemailer loaded from its own file (dist/kured-ts-smtp.mjs)', async () => {
  const smtp = await startSmtp();
  const url = `smtp://127.0.0.1:${smtp.port}/?fromAddress=kured@example.com&toAddresses=ops@example.com&encryption=None`;
  try {
    await scenario('smtp', { args: [`--notify-url=${url}`] }, async (fleet) => {
      const before = cluster.rebootCount('node-5');
      cluster.requireReboot('node-5');
      fleet.startAll(['node-5']);
      await settled('node-5', before + 1);
      // The mails sent before the reboot race it: the testbed's reboot SIGKILLs the agent like a
      // power cut (a real node's shutdown sends SIGTERM, and the agent flushes its notifications).
      // The uncordon mail comes from the agent started after the reboot, which loads nodemailer then.
      await waitFor('the uncordon mail', async () =>
        smtp.mails.some((m) => m.data.includes('Node node-5 rebooted & uncordoned successfully!')),
      );
      const mail = smtp.mails.find((m) => m.data.includes('uncordoned'))!;
      assert.ok(mail.commands.includes('MAIL FROM:<kured@example.com>'), mail.commands.join('\n'));
      assert.ok(mail.commands.includes('RCPT TO:<ops@example.com>'), mail.commands.join('\n'));
    });
  } finally {
    smtp.server.close();
  }
});

test('concurrency 2 is never exceeded and the multi-owner lock is emptied', async () => {
  const needing = ['node-1', 'node-2', 'node-3', 'node-4'];
  await scenario('concurrent', { args: ['--concurrency=2'] }, async (fleet, observer) => {
    const before = new Map(needing.map((n) => [n, cluster.rebootCount(n)]));
    for (const n of needing) cluster.requireReboot(n);
    fleet.startAll();
    for (const n of needing) await settled(n, before.get(n)! + 1);
    assert.ok(observer.maxDisrupted <= 2, `disrupted together: ${observer.worstMoment.join(',')}`);
    assert.equal(await lockValue(cluster, 'kured-concurrent'), undefined);
  });
});

test('a node an admin cordoned before stays cordoned after its reboot', async () => {
  await scenario('precordoned', { preCordoned: ['node-2'] }, async (fleet) => {
    const before = [cluster.rebootCount('node-1'), cluster.rebootCount('node-2')];
    cluster.requireReboot('node-1');
    cluster.requireReboot('node-2');
    fleet.startAll(['node-1', 'node-2']);
    await settled('node-1', before[0]! + 1, false);
    await settled('node-2', before[1]! + 1, true);
    const lock = await lockValue(cluster, 'kured-precordoned');
    assert.equal(lock, undefined);
  });
});

test('a reboot that never happens is given up after --reboot-timeout: uncordoned, lock released', async () => {
  await scenario(
    'noreboot',
    { args: ['--reboot-timeout=2s'], nodeArgs: () => ['--reboot-command=/bin/true'] },
    async (fleet) => {
      cluster.requireReboot('node-5');
      fleet.startAll(['node-5']);
      await waitFor('the attempt to be aborted', async () =>
        (await eventReasons(cluster, 'node-5')).includes('RebootAborted'),
      );
      await waitFor('node-5 uncordoned and the lock released', async () => {
        const s = await nodeState(cluster, 'node-5');
        return !s.unschedulable && (await lockValue(cluster, 'kured-noreboot')) === undefined;
      });
      const cycle = JSON.parse((await nodeState(cluster, 'node-5')).annotations[CYCLE] ?? '{}');
      assert.equal(cycle.phase, 'backoff');
      assert.match(cycle.reason, /did not reboot within 2s/);
    },
  );
});

test('{"nodeID":"manual"} stops reboots; once removed, a waiting node goes within seconds', async () => {
  await scenario('manual', { lock: '{"nodeID":"manual"}', args: ['--concurrency=2'] }, async (fleet) => {
    const before = cluster.rebootCount('node-3');
    cluster.requireReboot('node-3');
    fleet.startAll(['node-3']);
    await waitFor('the agent to say the lock is manual', () =>
      fleet.messages('node-3').some((m) => /manual/.test(m)),
    );
    assert.equal((await nodeState(cluster, 'node-3')).unschedulable, false);
    const released = Date.now();
    await setLock(cluster, 'kured-manual', null);
    await waitFor('node-3 cordoned', async () => (await nodeState(cluster, 'node-3')).unschedulable, 10_000);
    const tookMs = Date.now() - released;
    assert.ok(tookMs < 5000, `took ${tookMs} ms`);
    await settled('node-3', before + 1);
  });
});

test('a malformed lock annotation is logged and treated as held, never a crash', async () => {
  await scenario('malformed', { lock: 'this is not JSON' }, async (fleet) => {
    cluster.requireReboot('node-1');
    fleet.startAll(['node-1']);
    await waitFor('the agent to report the malformed lock', () =>
      fleet.messages('node-1').some((m) => /malformed/.test(m)),
    );
    assert.ok(fleet.running('node-1'));
    assert.equal((await nodeState(cluster, 'node-1')).unschedulable, false);
    assert.equal(await lockValue(cluster, 'kured-malformed'), 'this is not JSON');
  });
});

test('a lock whose TTL expires is taken over within seconds, not at the next period', async () => {
  const created = new Date().toISOString();
  const ghost = `{"nodeID":"gone-node","metadata":{"unschedulable":false},"created":"${created}","TTL":3000000000}`;
  await scenario('ttl', { lock: ghost, args: ['--lock-ttl=1h'] }, async (fleet) => {
    const before = cluster.rebootCount('node-2');
    cluster.requireReboot('node-2');
    fleet.startAll(['node-2']);
    await settled('node-2', before + 1);
    assert.ok(Date.now() - Date.parse(created) < 30_000);
  });
});

test('a lock written by kured for a rebooted node is adopted: uncordoned and released, no second reboot', async () => {
  const kuredLock = `{"nodeID":"node-3","metadata":{"unschedulable":false},"created":"${new Date().toISOString()}","TTL":0}`;
  await scenario('adopt', { lock: kuredLock, preCordoned: [] }, async (fleet) => {
    await cordon(cluster, 'node-3', true);
    const before = cluster.rebootCount('node-3');
    fleet.startAll(['node-3']);
    await waitFor('node-3 uncordoned and the lock released', async () => {
      return (
        !(await nodeState(cluster, 'node-3')).unschedulable &&
        (await lockValue(cluster, 'kured-adopt')) === undefined
      );
    });
    assert.equal(cluster.rebootCount('node-3'), before);
  });
});

test('the lock removed while the node was rebooting: the node is still uncordoned', async () => {
  await scenario('lost', {}, async (fleet) => {
    const before = cluster.rebootCount('node-1');
    const onDown = (node: string) => {
      if (node === 'node-1') void setLock(cluster, 'kured-lost', null);
    };
    cluster.events.on('reboot:down', onDown);
    try {
      cluster.requireReboot('node-1');
      fleet.startAll(['node-1']);
      await settled('node-1', before + 1);
    } finally {
      cluster.events.off('reboot:down', onDown);
    }
    assert.equal(await lockValue(cluster, 'kured-lost'), undefined);
  });
});

test("kured's multi-owner lock written by hand: a free slot is taken, the other owner's entry is kept byte for byte", async () => {
  const other =
    '{"nodeID":"kured-node","metadata":{"unschedulable":false},"created":"2026-01-01T00:00:00.123456789Z","TTL":0}';
  const lock = `{"maxOwners":2,"locks":[${other}]}`;
  await scenario('multi', { lock, args: ['--concurrency=2'] }, async (fleet) => {
    const before = cluster.rebootCount('node-4');
    cluster.requireReboot('node-4');
    fleet.startAll(['node-4']);
    await settled('node-4', before + 1);
    assert.equal(await lockValue(cluster, 'kured-multi'), lock);
  });
});

test('an empty multi-owner lock left by --concurrency=2 does not deadlock agents at --concurrency=1', async () => {
  await scenario('downgrade', { lock: '{"maxOwners":2,"locks":[]}' }, async (fleet) => {
    const before = cluster.rebootCount('node-5');
    cluster.requireReboot('node-5');
    fleet.startAll(['node-5']);
    await settled('node-5', before + 1);
    assert.equal(await lockValue(cluster, 'kured-downgrade'), undefined);
  });
});

test('taint while waiting, pre/post-reboot labels and kured node annotations', async () => {
  const args = [
    '--prefer-no-schedule-taint=kured-ts/waiting',
    '--annotate-nodes',
    '--pre-reboot-node-labels=reboot=pending',
    '--post-reboot-node-labels=reboot=done',
    '--reboot-delay=2s',
  ];
  await scenario('decorations', { args }, async (fleet) => {
    cluster.requireReboot('node-1');
    cluster.requireReboot('node-2');
    fleet.startAll(['node-1', 'node-2']);
    // Whichever node waits for the lock carries the PreferNoSchedule taint meanwhile.
    await waitFor('a waiting node tainted', async () => {
      for (const n of ['node-1', 'node-2']) {
        const s = await nodeState(cluster, n);
        if (s.taints.some((t) => t.key === 'kured-ts/waiting' && t.effect === 'PreferNoSchedule'))
          return true;
      }
      return false;
    });
    for (const n of ['node-1', 'node-2']) {
      await waitFor(`${n} done`, async () => {
        const s = await nodeState(cluster, n);
        return s.labels.reboot === 'done' && !s.unschedulable && !s.annotations[CYCLE];
      });
    }
    for (const n of ['node-1', 'node-2']) {
      const s = await nodeState(cluster, n);
      assert.equal(s.taints.filter((t) => t.key === 'kured-ts/waiting').length, 0, `${n} still tainted`);
      assert.ok(
        s.annotations['weave.works/kured-most-recent-reboot-needed'],
        `${n} has no most-recent annotation`,
      );
      assert.equal(s.annotations['weave.works/kured-reboot-in-progress'], undefined);
    }
  });
});

test('--reboot-sentinel-command runs on the host through nsenter: exit 0 reboots, a broken command does not', async () => {
  await scenario(
    'sentinelcmd',
    {
      nodeArgs: (n) =>
        n === 'node-2'
          ? [`--reboot-sentinel-command=test -e ${cluster.sentinelPath(n)}`]
          : ['--reboot-sentinel-command=/nonexistent/needs-restarting'],
    },
    async (fleet) => {
      const before = [cluster.rebootCount('node-2'), cluster.rebootCount('node-3')];
      cluster.requireReboot('node-2');
      cluster.requireReboot('node-3');
      fleet.startAll(['node-2', 'node-3']);
      await settled('node-2', before[0]! + 1);
      // node-3's check cannot run: reported, never read as "reboot needed".
      await waitFor('node-3 to report its broken sentinel command', () =>
        fleet.log('node-3').some((l) => l.includes('/nonexistent/needs-restarting')),
      );
      assert.equal(cluster.rebootCount('node-3'), before[1]);
      assert.equal((await nodeState(cluster, 'node-3')).unschedulable, false);
    },
  );
});

test('kured-ts status says who holds the lock and why each node waits', async () => {
  await scenario('status', { lock: '{"nodeID":"manual"}' }, async (fleet) => {
    cluster.requireReboot('node-1');
    fleet.startAll(['node-1']);
    const status = () =>
      execFileSync(process.execPath, [BUNDLE, 'status', '--ds-name=kured-status'], {
        env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
        encoding: 'utf8',
      });
    // Poll: the agent records its Event as it decides to wait, and gets in line (the waiting label,
    // the row's cycle and since) in its next write: status may show one before the other.
    const out = await waitFor('status to show node-1 in line, waiting for the lock', () => {
      const text = status();
      return /node-1 .*\swaiting\s.*WaitingForLock/.test(text) && text;
    });
    const lines = out.trim().split('\n');
    assert.match(
      lines[0]!,
      /^lock weave\.works\/kured-node-lock on kube-system\/kured-status: manual \(reboots disabled by an operator\)$/,
    );
    // Between the lock and the table: the reboot window's line (and others that may come).
    assert.ok(
      lines.some((l) => /^NODE\s+ZONE\s+STATUS\s+CYCLE\s+SINCE\s+LAST EVENT$/.test(l)),
      `no table header in:\n${out}`,
    );
    const row = lines.find((l) => l.startsWith('node-1 ')) ?? '';
    assert.match(
      row,
      /zone-a\s+Ready\s+waiting\s+\S+Z\s+WaitingForLock: Reboot needed; waiting for the lock \(held by manual/,
    );
  });
});
