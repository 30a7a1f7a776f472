import { randomUUID } from 'node:crypto';
import { type CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import { KWOK_LABEL, KWOK_LABEL_VALUE } from './kwok.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
const ZONES = ['zone-a', 'zone-b', 'zone-c'];

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicMergePatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** The names of the simulated nodes: node-1 … node-N. */
export function nodeNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
}

/** A Node as a kubelet would register it; kwok fills in conditions, capacity and heartbeats. */
export function nodeManifest(name: string, index: number): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        [ZONE_LABEL]: ZONES[index % ZONES.length]!,
        [KWOK_LABEL]: KWOK_LABEL_VALUE,
      },
    },
    spec: {},
    status: {
      addresses: [
        { type: 'InternalIP', address: `10.10.0.${index + 1}` },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        architecture: 'amd64',
        bootID: randomUUID(),
        containerRuntimeVersion: 'kwok',
        kernelVersion: 'kwok',
        kubeProxyVersion: '',
        kubeletVersion: 'kwok',
        machineID: randomUUID().replaceAll('-', ''),
        operatingSystem: 'linux',
        osImage: 'kured-ts testbed',
        systemUUID: randomUUID(),
      },
    },
  };
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function bootIdOf(node: V1Node): string {
  return node.status?.nodeInfo?.bootID ?? '';
}

/** Takes a node away from kwok, so that kwok stops reporting it Ready while it is "rebooting". */
export async function releaseFromKwok(core: CoreV1Api, name: string): Promise<void> {
  await core.patchNode({ name, body: { metadata: { labels: { [KWOK_LABEL]: null } } } }, mergePatch);
}

/** Hands a node back to kwok; its node-initialize stage then reports it Ready again. */
export async function handToKwok(core: CoreV1Api, name: string): Promise<void> {
  await core.patchNode(
    { name, body: { metadata: { labels: { [KWOK_LABEL]: KWOK_LABEL_VALUE } } } },
    mergePatch,
  );
}

/** Reports the node NotReady with a new boot ID, as the node controller and a booting kubelet would. */
export async function markRebooting(core: CoreV1Api, name: string, bootID: string): Promise<void> {
  const now = new Date().toISOString();
  await core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'KubeletNotReady',
              message: 'testbed: node is rebooting',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          nodeInfo: { bootID },
        },
      },
    },
    strategicMergePatch,
  );
}
