import type { V1Pod } from '@kubernetes/client-node';
import { type Kube, paths } from '../kube/client.ts';

const PAGE_SIZE = 500;

/** Every pod bound to the node (optionally matching a label selector), following `continue` tokens. */
export async function listPodsOnNode(kube: Kube, node: string, labelSelector: string): Promise<V1Pod[]> {
  const pods: V1Pod[] = [];
  let token: string | undefined;
  do {
    const page = await kube.list<V1Pod>(paths.pods, {
      fieldSelector: `spec.nodeName=${node}`,
      labelSelector: labelSelector || undefined,
      limit: PAGE_SIZE,
      continue: token,
    });
    pods.push(...page.items);
    token = page.metadata?.continue || undefined;
  } while (token);
  return pods;
}
