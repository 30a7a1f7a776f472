/**
 * Quiet when idle, on the real control plane: every request of the agents goes through a
 * recording proxy. Agents whose node needs no reboot make no request and hold no watch after their
 * start-up look; a node that needs one watches during its cycle and goes quiet again afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';
import { AuditProxy } from './helm-audit.ts';
import { CYCLE, lockValue, nodeState, waitFor } from './support/scenario.ts';

let cluster: Cluster;
let proxy: AuditProxy;
let kubeconfig: string;

before(async () => {
  cluster = await startCluster({ nodes: 4, rebootDelayMs: 1000 });
  const pki = path.join(cluster.dir, 'pki');
  proxy = new AuditProxy(cluster.server, {
    caFile: cluster.caFile,
    certFile: path.join(pki, 'apiserver.crt'),
    keyFile: path.join(pki, 'apiserver.key'),
  });
  const server = await proxy.start();
  const token = cluster.kubeConfig().getCurrentUser()?.token ?? '';
  kubeconfig = path.join(cluster.dir, 'agents-via-proxy.kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: testbed, cluster: {server: "${server}", certificate-authority: "${cluster.caFile}"}}]`,
      `users: [{name: agent, user: {token: "${token}"}}]`,
      'contexts: [{name: agent, context: {cluster: testbed, user: agent}}]',
      'current-context: agent',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
});
after(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

/** Requests the agents made over `ms`, as `<grant> <status>` lines. */
async function requestsDuring(ms: number): Promise<string[]> {
  proxy.clear();
  await new Promise((r) => setTimeout(r, ms));
  return proxy.entries.map((e) => `${e.grant} ${e.status}`);
}

test('idle agents make no API request and hold no watch; a rebooting node watches only during its cycle', async () => {
  // A short period: an agent that polled would show up many times in each window.
  const fleet = new Fleet(cluster, { dsName: 'kured-quiet', kubeconfig, args: ['--period=2s'] });
  await fleet.createLockDaemonSet();
  try {
    fleet.startAll();
    await waitFor('every agent to have looked once', () =>
      cluster.nodes.every((n) => fleet.messages(n).includes('no reboot needed')),
    );
    assert.deepEqual(await requestsDuring(10_000), [], 'idle agents made requests');
    assert.equal(proxy.openWatches, 0, 'idle agents hold watches');

    cluster.requireReboot('node-2');
    let maxWatches = 0;
    await waitFor(
      'node-2 rebooted, uncordoned, its cycle over and the lock released',
      async () => {
        maxWatches = Math.max(maxWatches, proxy.openWatches);
        const s = await nodeState(cluster, 'node-2');
        return (
          cluster.rebootCount('node-2') === 1 &&
          s.ready &&
          !s.unschedulable &&
          !s.annotations[CYCLE] &&
          (await lockValue(cluster, 'kured-quiet')) === undefined
        );
      },
      90_000,
    );
    assert.ok(maxWatches >= 1, 'the rebooting node never watched the lock or its Node');
    await waitFor('the watches to be closed after the cycle', () => proxy.openWatches === 0, 20_000).catch(
      (err) => {
        const open = [...proxy.watches].filter(([, n]) => n > 0).map(([u, n]) => `${n} ${u}`);
        throw new Error(
          `${err.message}: ${open.join(', ')}\n${fleet.messages('node-2').slice(-12).join('\n')}`,
        );
      },
    );
    // The restarted agent's start-up look may still be in flight: wait for a silent moment first.
    await waitFor('the agents to fall silent', async () => (await requestsDuring(3000)).length === 0, 30_000);
    assert.deepEqual(await requestsDuring(10_000), [], 'agents made requests after the cycle');
    assert.equal(proxy.openWatches, 0);
    assert.equal(cluster.rebootCount('node-1') + cluster.rebootCount('node-3'), 0);
  } finally {
    await fleet.stopAll();
  }
});
