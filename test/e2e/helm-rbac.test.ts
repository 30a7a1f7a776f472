/**
 * The chart's RBAC on the real control plane: the chart is installed on the testbed's API server
 * with the `helm install` command of docs/install.md, the agents (the bundle) run with the chart ServiceAccount's token (TokenRequest),
 * and their every request goes through a recording proxy (./helm-audit.ts).
 * - A full rolling reboot succeeds, is never refused, and uses every verb the chart grants.
 * - With any one grant removed, the agents' run fails: the API server refuses that request.
 * The DaemonSet controller creates the chart's pods (kwok plays them); the agents run as host processes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { helmBinary } from '../../scripts/render-manifests.ts';
import type { Fleet } from '../../testbed/src/fleet.ts';
import { type Cluster, isApiStatus, pollUntil, startCluster } from '../../testbed/src/index.ts';
import {
  docsInstallCommand,
  find,
  helm,
  type Obj,
  parseObjects,
  runAsWritten,
} from '../unit/deploy/render.ts';
import { AuditProxy } from './helm-audit.ts';
import { fleetFromChart, settled } from './helm-support.ts';
import { lockValue, resetNodes, setLock, waitFor } from './support/scenario.ts';

const NS = 'kured-ts';
const WORKLOAD_NS = 'workload';

let cluster: Cluster;
let objs: Obj[];
let proxy: AuditProxy;
let proxyKubeconfig: string;
let saKubeconfig: KubeConfig;

/** One granted verb: where it is in the rendered roles and what SubjectAccessReview asks for it. */
interface Grant {
  id: string;
  kind: 'ClusterRole' | 'Role';
  role: string;
  namespace: string | undefined;
  rule: number;
  verb: string;
  /** The reboot cannot complete without it (the others degrade latency or Events). */
  blocking: boolean;
  access: {
    group: string;
    resource: string;
    subresource?: string;
    verb: string;
    namespace?: string;
    name?: string;
  };
}

/** Verbs without which a reboot still happens, later or with fewer Events: the request is still refused. */
const DEGRADING = new Set([
  'core nodes watch',
  'apps daemonsets watch',
  // The Node and the lock are read through their watches while a reboot is under way; the refused
  // reads are the start-up ones (and a ghost check), so a reboot still happens.
  'core nodes get',
  'apps daemonsets get',
  'core pods watch',
  'events.k8s.io events create',
  // Without it the budget pre-flight is off (one warning at start-up) and the drain runs as kured's.
  'policy poddisruptionbudgets list',
]);

/**
 * Grants the agent asks for at start-up (src/kube/grants.ts): without one, it says so once and does
 * without (kured's way), so the request is never made. The start of the warning for each.
 */
const PROBED = new Map([
  [
    'coordination.k8s.io leases create',
    'RBAC: create on coordination.k8s.io leases in namespace kured-ts is not granted',
  ],
  [
    'coordination.k8s.io leases list',
    'RBAC: list on coordination.k8s.io leases in namespace kured-ts is not granted',
  ],
  [
    'coordination.k8s.io leases deletecollection',
    'RBAC: deletecollection on coordination.k8s.io leases in namespace kured-ts is not granted',
  ],
  ['core nodes list', 'RBAC: list on nodes is not granted'],
  ['core nodes watch', 'RBAC: watch on nodes node-1 is not granted'],
  ['core pods watch', 'RBAC: watch on pods is not granted'],
  ['apps daemonsets watch', 'RBAC: watch on apps daemonsets kured-ts/kured-ts is not granted'],
  ['events.k8s.io events create', 'RBAC: create on events.k8s.io events in namespace default is not granted'],
]);

function grantsOf(rendered: Obj[]): Grant[] {
  const grants: Grant[] = [];
  for (const role of rendered.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
    role.rules.forEach((rule: V1PolicyRule, i: number) => {
      const group = rule.apiGroups![0]!;
      const [resource, subresource] = rule.resources![0]!.split('/') as [string, string | undefined];
      for (const verb of rule.verbs) {
        const id = `${group || 'core'} ${rule.resources![0]} ${verb}`;
        const namespace =
          role.metadata.namespace ??
          (resource === 'pods' && verb !== 'list' && verb !== 'watch' ? WORKLOAD_NS : undefined);
        grants.push({
          id,
          kind: role.kind,
          role: role.metadata.name,
          namespace: role.metadata.namespace,
          rule: i,
          verb,
          blocking: !DEGRADING.has(id),
          access: {
            group,
            resource,
            ...(subresource ? { subresource } : {}),
            verb,
            ...(namespace ? { namespace } : {}),
            ...(rule.resourceNames ? { name: rule.resourceNames[0] } : {}),
          },
        });
      }
    });
  }
  return grants;
}

/** A kubeconfig that sends the ServiceAccount's token through the recording proxy. */
function kubeconfigVia(server: string, token: string): string {
  const file = path.join(cluster.dir, 'kured-ts-sa-via-proxy.kubeconfig');
  fs.writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: testbed, cluster: {server: "${server}", certificate-authority: "${cluster.caFile}"}}]`,
      `users: [{name: kured-ts, user: {token: "${token}"}}]`,
      'contexts: [{name: kured-ts, context: {cluster: testbed, user: kured-ts}}]',
      'current-context: kured-ts',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

/** A plain pod on the node, so a drain has something to evict and wait for. */
async function ensurePod(node: string): Promise<void> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const name = `app-${node}`;
  // An evicted pod from an earlier run may still be terminating: wait until it is gone or live.
  const live = await pollUntil(
    async () => {
      try {
        const pod = await core.readNamespacedPod({ name, namespace: WORKLOAD_NS });
        return pod.metadata?.deletionTimestamp ? undefined : 'live';
      } catch (err) {
        if (isApiStatus(err, 404)) return 'absent';
        throw err;
      }
    },
    { timeoutMs: 30_000, describe: () => `pod ${name} still terminating after 30s` },
  );
  if (live === 'live') return;
  await core.createNamespacedPod({
    namespace: WORKLOAD_NS,
    body: {
      metadata: { name },
      spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
    },
  });
}

/** Runs body; if it fails, the error carries the agents' last log lines and the proxy's count. */
async function explained(fleet: Fleet, nodes: readonly string[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const logs = nodes.map((n) => `--- agent ${n}:\n${fleet.log(n).slice(-15).join('\n')}`).join('\n');
    const seen = `proxy saw ${proxy.entries.length} requests, refused: ${proxy.refused().join(', ') || 'none'}`;
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${seen}\n${logs}`, { cause: err });
  }
}

async function allowed(access: Grant['access']): Promise<boolean> {
  const api = saKubeconfig.makeApiClient(AuthorizationV1Api);
  const review = await api.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: access } } });
  return review.status?.allowed === true;
}

/** Replaces a role's rules and waits until the authorizer (an informer cache) has caught up. */
async function setRules(grant: Grant, rules: V1PolicyRule[], expectAllowed: boolean): Promise<void> {
  const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  if (grant.kind === 'ClusterRole') {
    const role = await rbac.readClusterRole({ name: grant.role });
    await rbac.replaceClusterRole({ name: grant.role, body: { ...role, rules } });
  } else {
    const role = await rbac.readNamespacedRole({ name: grant.role, namespace: grant.namespace! });
    await rbac.replaceNamespacedRole({
      name: grant.role,
      namespace: grant.namespace!,
      body: { ...role, rules },
    });
  }
  await pollUntil(async () => (await allowed(grant.access)) === expectAllowed, {
    timeoutMs: 15_000,
    describe: () => `RBAC change of ${grant.id} not effective after 15s`,
  });
}

before(async () => {
  cluster = await startCluster({ nodes: 3, rebootDelayMs: 1500 });
  // Installed with the command of docs/install.md, as written, by the real helm.
  const bin = await helmBinary();
  const install = runAsWritten(bin, docsInstallCommand(), { KUBECONFIG: cluster.kubeconfigPath });
  assert.equal(install.status, 0, install.stderr);
  assert.match(install.stdout, /STATUS: deployed[\s\S]*Reboot lock:/);
  const manifest = helm(bin, [
    'get',
    'manifest',
    'kured-ts',
    '--namespace',
    NS,
    '--kubeconfig',
    cluster.kubeconfigPath,
  ]);
  objs = parseObjects(manifest.stdout);
  await cluster.createNamespace(WORKLOAD_NS);
  const token = await cluster.serviceAccountToken(NS, find(objs, 'ServiceAccount').metadata.name);
  saKubeconfig = new KubeConfig();
  saKubeconfig.loadFromFile(cluster.kubeconfigForToken(token, 'kured-ts-sa'));
  // The API server's serving certificate (for 127.0.0.1, from the testbed's PKI) serves the proxy too.
  const pki = path.join(cluster.dir, 'pki');
  proxy = new AuditProxy(cluster.server, {
    caFile: cluster.caFile,
    certFile: path.join(pki, 'apiserver.crt'),
    keyFile: path.join(pki, 'apiserver.key'),
  });
  proxyKubeconfig = kubeconfigVia(await proxy.start(), token);
});

after(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

describe('the chart RBAC, with the agents on the control plane', () => {
  it('is enough for a full rolling reboot, and every granted verb is used', async () => {
    const nodes = [...cluster.nodes];
    const fleet = fleetFromChart(cluster, objs, proxyKubeconfig);
    try {
      proxy.clear();
      for (const n of nodes) await ensurePod(n);
      for (const n of nodes) cluster.requireReboot(n);
      fleet.startAll(nodes);
      await explained(fleet, nodes, async () => {
        // Three cycles one after the other: on a loaded machine one can take 20 s or more.
        for (const n of nodes) await settled(cluster, n, 1, 180_000);
        await waitFor(
          'the lock to be released',
          async () => (await lockValue(cluster, 'kured-ts', NS)) === undefined,
        );
      });
    } finally {
      await fleet.stopAll();
    }
    assert.deepEqual(proxy.refused(), [], 'the API server refused requests of the agents');
    assert.deepEqual(proxy.failed(), [], 'the API server rejected requests of the agents');
    const granted = [...new Set(grantsOf(objs).map((g) => g.id))].sort();
    assert.deepEqual(proxy.used(), granted, 'used verbs differ from granted verbs');
  });

  for (const id of [
    'core nodes get',
    'core nodes list',
    'core nodes watch',
    'core nodes patch',
    'core pods get',
    'core pods list',
    'core pods watch',
    'core pods/eviction create',
    'apps daemonsets get',
    'apps daemonsets watch',
    'apps daemonsets patch',
    'coordination.k8s.io leases create',
    'coordination.k8s.io leases list',
    'coordination.k8s.io leases deletecollection',
    'events.k8s.io events create',
    'policy poddisruptionbudgets list',
  ]) {
    it(`without "${id}", the run fails: the agent is refused`, async () => {
      const grant = grantsOf(objs).find((g) => g.id === id);
      assert.ok(grant, `the chart does not grant ${id}`);
      const role = find(objs, grant.kind, grant.role);
      const without: V1PolicyRule[] = role.rules
        .map((r: V1PolicyRule, i: number) =>
          i === grant.rule ? { ...r, verbs: r.verbs.filter((v) => v !== grant.verb) } : r,
        )
        .filter((r: V1PolicyRule) => r.verbs.length > 0);
      const node = 'node-1';
      await resetNodes(cluster);
      await setLock(cluster, 'kured-ts', null, NS);
      await ensurePod(node);
      await setRules(grant, without, false);
      const fleet = fleetFromChart(cluster, objs, proxyKubeconfig);
      const reboots = cluster.rebootCount(node);
      try {
        proxy.clear();
        cluster.requireReboot(node);
        fleet.start(node);
        const warning = PROBED.get(id);
        if (warning) {
          // Asked at start-up (src/kube/grants.ts): never tried, said once per start, kured's way instead.
          await explained(fleet, [node], () => settled(cluster, node, reboots + 1));
          const said = fleet.messages(node).filter((m) => m.startsWith(warning));
          assert.equal(said.length, fleet.starts.get(node), said.join(' | '));
        } else {
          await explained(fleet, [node], async () => {
            await waitFor(`the API server to refuse ${id}`, () => proxy.refused().includes(id));
          });
        }
        if (warning) {
          // checked above
        } else if (grant.blocking) {
          // A negative check needs a window: for 5 s, the node must not be rebooted without the grant.
          const until = Date.now() + 5000;
          while (Date.now() < until) {
            assert.equal(cluster.rebootCount(node), reboots, `${node} was rebooted without ${id}`);
            await new Promise((r) => setTimeout(r, 250));
          }
        } else {
          // Without a watch the agent falls back to polling, without Events it still reboots.
          await settled(cluster, node, reboots + 1);
          if (id === 'policy poddisruptionbudgets list') {
            const warnings = fleet
              .messages(node)
              .filter((m) => m.includes('cannot list PodDisruptionBudgets'));
            // Once per agent start (the node's reboot restarts its agent), never per check.
            assert.equal(warnings.length, fleet.starts.get(node), warnings.join(' | '));
          }
        }
      } finally {
        await fleet.stopAll();
        await setRules(grant, role.rules, true);
      }
      assert.deepEqual(
        proxy.refused(),
        PROBED.has(id) ? [] : [id],
        PROBED.has(id) ? 'a grant known missing was tried' : 'only the removed grant may be refused',
      );
    });
  }
});
