import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  CoordinationV1Api,
  type CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { isReady } from './nodes.ts';

/** Set on a pod to hand it to kwok again (its value: when). */
export const RESYNC_ANNOTATION = 'testbed.kured-ts.dev/resync';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * What a kubelet does when its Node registers again (deleted and created anew, same name): it runs
 * the pods bound to it. kwok v0.8 did not, once, in a 100-node chaos run (a web and an api pod left
 * Pending on a recreated node). Not reproduced at small scale; what its code allows: the old Node's
 * Lease is garbage-collected with it (its owner is gone, seen here as kwok creating a Lease twice
 * after each recreate), and kwok, having created another, lists the node's pods to play them at
 * once; a pod it reads before its own cache shows the new Lease counts as another kubelet's ("read
 * only") and is skipped, as is a pod bound while no Lease exists, and nothing lists them again. So,
 * as a kubelet would: once the Node is Ready and owns its Lease (no further collection), each of its
 * Pending pods is touched, a change kwok's watch delivers and it plays (twice, a few seconds apart,
 * for kwok's cache to catch up). Resolves with how many pods were touched.
 */
export async function rerunPodsOfReregisteredNode(
  kc: KubeConfig,
  core: CoreV1Api,
  node: string,
  timeoutMs = 180_000,
): Promise<number> {
  const leases = kc.makeApiClient(CoordinationV1Api);
  const deadline = Date.now() + timeoutMs;
  let seen = 'nothing read yet';
  let readySince: number | undefined;
  for (;;) {
    const state = await Promise.all([
      core.readNode({ name: node }),
      leases.readNamespacedLease({ name: node, namespace: 'kube-node-lease' }).catch(() => undefined),
    ]).then(
      ([n, l]) => {
        const owners = l?.metadata?.ownerReferences?.map((o) => o.uid) ?? [];
        seen = `Node ${n.metadata?.uid} ${isReady(n) ? 'Ready' : 'not Ready'}, Lease ${l ? `held by ${l.spec?.holderIdentity ?? 'nobody'}, owners [${owners.join(', ')}]` : 'absent'}`;
        return {
          ready: isReady(n),
          owned: l?.spec?.holderIdentity !== undefined && owners.includes(n.metadata?.uid ?? ''),
        };
      },
      () => ({ ready: false, owned: false }), // not there yet, or the API server down (another fault)
    );
    if (state.ready) readySince ??= Date.now();
    // Owning its Lease is what stops the collection; a Node Ready for 30 s goes on regardless.
    if (state.ready && (state.owned || Date.now() - (readySince ?? 0) > 30_000)) break;
    if (Date.now() > deadline)
      throw new Error(
        `testbed: ${node} registered again was not Ready within ${timeoutMs / 1000}s (${seen})`,
      );
    await sleep(500);
  }
  const touched = new Set<string>();
  for (const wait of [1000, 5000]) {
    await sleep(wait);
    const pods = await core
      .listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node},status.phase=Pending` })
      .catch(() => ({ items: [] }));
    for (const p of pods.items) {
      if (p.metadata?.deletionTimestamp) continue;
      await core
        .patchNamespacedPod(
          {
            name: p.metadata?.name ?? '',
            namespace: p.metadata?.namespace ?? '',
            body: {
              metadata: {
                uid: p.metadata?.uid,
                annotations: { [RESYNC_ANNOTATION]: new Date().toISOString() },
              },
            },
          },
          mergePatch,
        )
        .then(
          () => touched.add(`${p.metadata?.namespace}/${p.metadata?.name}`),
          (err: unknown) => {
            // Gone or replaced meanwhile: nothing to run.
            if (!(err instanceof ApiException && (err.code === 404 || err.code === 409))) throw err;
          },
        );
    }
  }
  return touched.size;
}
