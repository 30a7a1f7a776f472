/**
 * Approval hooks end to end: real agents (the bundle) on the real control plane, and a small HTTP
 * server on loopback playing the ITSM system. A refusal holds the node fail-closed with the
 * answer's first line (in the log, the Events and `status`), retried with backoff; an approval lets
 * it reboot; the post-reboot hook gets the outcome with the same cycle id; every call is an Event
 * and a line in the node's hook history. An unreachable or silent hook never lets a node reboot; a
 * malformed hook URL is one line at startup naming the flag.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { BUNDLE, Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { freePort } from './prometheus-server.ts';
import { CYCLE, eventReasons, lockValue, nodeState, resetNodes, waitFor } from './support/scenario.ts';

interface Call {
  path: string;
  auth: string | undefined;
  body: Record<string, string>;
}

let cluster: Cluster;
let itsm: Server;
let itsmUrl = '';
let dir = '';
const calls: Call[] = [];
/** What the ITSM answers to the next pre-reboot calls, in order; then 200. */
const preAnswers: Array<[number, string]> = [];

before(
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'kured-ts-hooks-'));
    itsm = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const path = req.url ?? '';
        if (path === '/hang') return; // never answers
        calls.push({ path, auth: req.headers.authorization, body: JSON.parse(raw || '{}') });
        const [status, text] =
          path === '/pre' ? (preAnswers.shift() ?? [200, 'CHG0042 approved']) : [200, 'ok'];
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(text);
      });
    });
    await new Promise<void>((r) => itsm.listen(0, '127.0.0.1', r));
    itsmUrl = `http://127.0.0.1:${(itsm.address() as { port: number }).port}`;
    cluster = await startCluster({ nodes: 2, namePrefix: 'hooks', rebootDelayMs: 1000 });
  },
  { timeout: 15 * 60_000 },
);
after(async () => {
  await cluster?.stop();
  itsm?.closeAllConnections();
  itsm?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function status(ds: string): string {
  const r = spawnSync(process.execPath, [BUNDLE, 'status', `--ds-name=${ds}`, '-o', 'wide'], {
    env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('the pre-reboot hook holds the node until it approves; the post-reboot hook gets the outcome', {
  timeout: 240_000,
}, async () => {
  await resetNodes(cluster);
  const node = cluster.nodes[0]!;
  calls.length = 0;
  preAnswers.push([409, 'change CHG0042 is not approved yet\nsee https://itsm.example/CHG0042']);
  const token = join(dir, 'token');
  writeFileSync(token, 's3cret\n');
  const fleet = new Fleet(cluster, {
    dsName: 'kured-hooks',
    args: [
      '--period=1m',
      `--pre-reboot-hook-url=${itsmUrl}/pre`,
      `--post-reboot-hook-url=${itsmUrl}/post`,
      `--hook-bearer-token-file=${token}`,
    ],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(node);
    fleet.start(node);
    await waitFor('the refusal in the log', () =>
      fleet
        .log(node)
        .find((l) =>
          l.includes(
            `the pre-reboot hook at ${itsmUrl}/pre did not approve: HTTP 409: change CHG0042 is not approved yet`,
          ),
        ),
    );
    // Held fail-closed: no lock, no cordon; status shows the answer.
    assert.equal(await lockValue(cluster, 'kured-hooks'), undefined);
    assert.equal((await nodeState(cluster, node)).unschedulable, false);
    // The node's last Event: the hook's refusal, or the wait it caused; both quote the answer.
    assert.match(
      status('kured-hooks'),
      /(refused \(|did not approve: )HTTP 409: change CHG0042 is not approved yet/,
    );
    const refusedAt = Date.now();

    // Asked again after the backoff (10 s), approved, rebooted.
    await waitFor(
      'the reboot to complete',
      async () => {
        const s = await nodeState(cluster, node);
        return cluster.rebootCount(node) === 1 && s.ready && !s.unschedulable && !s.annotations[CYCLE];
      },
      120_000,
    );
    const pre = calls.filter((c) => c.path === '/pre');
    assert.equal(pre.length, 2, JSON.stringify(calls));
    assert.ok(Date.now() - refusedAt >= 8000, 'asked again only after the backoff');
    for (const c of pre) {
      assert.equal(c.auth, 'Bearer s3cret');
      assert.equal(c.body.node, node);
      assert.ok(!Number.isNaN(Date.parse(c.body.plannedTime ?? '')), 'a planned time');
      assert.match(c.body.reason ?? '', /reboot-required exists/);
    }
    assert.equal(pre[0]!.body.cycle, pre[1]!.body.cycle, 'one cycle id across the retries');

    const post = await waitFor('the post-reboot hook', () => calls.find((c) => c.path === '/post'));
    assert.equal(post.body.outcome, 'healthy');
    assert.equal(post.body.cycle, pre[0]!.body.cycle, 'the post hook names the same cycle');
    assert.equal(post.auth, 'Bearer s3cret');

    const reasons = await eventReasons(cluster, node);
    assert.ok(reasons.filter((r) => r === 'PreRebootHook').length >= 2, reasons.join(','));
    await waitFor('the post-reboot Event', async () =>
      (await eventReasons(cluster, node)).includes('PostRebootHook'),
    );
    const history = await waitFor('three calls in the hook history', async () => {
      const raw = (await nodeState(cluster, node)).annotations['kured-ts.dev/hook-calls'];
      const list = raw ? (JSON.parse(raw) as { hook: string; ok: boolean; status: number }[]) : [];
      return list.length === 3 ? list : undefined;
    });
    const shown = spawnSync(process.execPath, [BUNDLE, 'history', node, '--ds-name=kured-hooks'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: cluster.kubeconfigPath },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.match(shown.stdout, /^NODE\s+AT\s+HOOK\s+ANSWER\s+CYCLE\s+DETAIL$/m);
    assert.match(shown.stdout, /pre-reboot\s+refused\s+\S+\s+HTTP 409: change CHG0042 is not approved yet/);
    assert.match(shown.stdout, /post-reboot\s+accepted\s+\S+\s+HTTP 200: ok/);
    assert.deepEqual(
      history.map((h) => [h.hook, h.ok, h.status]),
      [
        ['post-reboot', true, 200],
        ['pre-reboot', true, 200],
        ['pre-reboot', false, 409],
      ],
    );
  } finally {
    await fleet.stopAll();
  }
});

test('an unreachable or silent hook holds the node and never reboots it', { timeout: 180_000 }, async () => {
  await resetNodes(cluster);
  const [down, silent] = [cluster.nodes[0]!, cluster.nodes[1]!];
  const before = [cluster.rebootCount(down), cluster.rebootCount(silent)];
  const closed = await freePort();
  const fleet = new Fleet(cluster, {
    dsName: 'kured-hookdown',
    args: ['--period=2s', '--hook-timeout=1s', '--concurrency=2'],
    nodeArgs: (n) => [
      `--pre-reboot-hook-url=${n === down ? `http://127.0.0.1:${closed}/x` : `${itsmUrl}/hang`}`,
    ],
  });
  await fleet.createLockDaemonSet();
  try {
    cluster.requireReboot(down);
    cluster.requireReboot(silent);
    fleet.startAll([down, silent]);
    await waitFor('the refused connection in the log', () =>
      fleet.log(down).find((l) => l.includes('did not approve: no answer (connect ECONNREFUSED')),
    );
    await waitFor('the timeout in the log', () =>
      fleet.log(silent).find((l) => l.includes('did not approve: no answer (timed out)')),
    );
    await delay(3000);
    assert.deepEqual([cluster.rebootCount(down), cluster.rebootCount(silent)], before);
    for (const n of [down, silent]) assert.equal((await nodeState(cluster, n)).unschedulable, false);
    assert.equal(await lockValue(cluster, 'kured-hookdown'), undefined);
    assert.match(status('kured-hookdown'), /(refused \(|did not approve: )no answer \(connect ECONNREFUSED/);
  } finally {
    await fleet.stopAll();
  }
});

test('a malformed hook URL is one line at startup naming the flag', () => {
  for (const [flag, value] of [
    ['--pre-reboot-hook-url', 'itsm.example/approve'],
    ['--post-reboot-hook-url', 'ftp://itsm.example/done'],
  ] as const) {
    const r = spawnSync(process.execPath, [BUNDLE, `${flag}=${value}`], {
      env: { PATH: process.env.PATH ?? '', KURED_NODE_ID: 'n1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(r.status, 0);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^kured-ts: ${flag}: `));
  }
});
