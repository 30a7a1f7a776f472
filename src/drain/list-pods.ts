import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';

const PAGE_SIZE = 500;

/** Every pod bound to the node (optionally matching a label selector), following `continue` tokens. */
export async function listPodsOnNode(core: CoreV1Api, node: string, labelSelector: string): Promise<V1Pod[]> {
  const pods: V1Pod[] = [];
  let token: string | undefined;
  do {
    const page = await core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${node}`,
      ...(labelSelector ? { labelSelector } : {}),
      limit: PAGE_SIZE,
      ...(token ? { _continue: token } : {}),
    });
    pods.push(...page.items);
    token = page.metadata?._continue || undefined;
  } while (token);
  return pods;
}
