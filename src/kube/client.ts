import * as k8s from '@kubernetes/client-node';

export interface KubeClients {
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  events: k8s.EventsV1Api;
}

/** In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config (as kubectl does). */
export function connect(): KubeClients {
  const config = new k8s.KubeConfig();
  config.loadFromDefault();
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    events: config.makeApiClient(k8s.EventsV1Api),
  };
}

/** Options for a JSON merge patch (RFC 7386): the client's default content type is JSON Patch. */
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
