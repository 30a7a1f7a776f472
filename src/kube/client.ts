import * as k8s from '@kubernetes/client-node';

export interface KubeClients {
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  events: k8s.EventsV1Api;
}

/** No single API request may hang longer than this (watches are not API requests and stay open). */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config (as kubectl does); or the
 * given kubeconfig file. Each call has its own KubeConfig, hence its own connections.
 */
export function connect(kubeconfigFile?: string): KubeClients {
  const config = new k8s.KubeConfig();
  if (kubeconfigFile) config.loadFromFile(kubeconfigFile);
  else config.loadFromDefault();
  return {
    config,
    core: apiClient(config, k8s.CoreV1Api),
    apps: apiClient(config, k8s.AppsV1Api),
    events: apiClient(config, k8s.EventsV1Api),
  };
}

/**
 * KubeConfig.makeApiClient plus a deadline on every request: without one, a request to an API
 * server that stopped answering waits for the HTTP client's own 5-minute timeout, and the agent
 * with it.
 */
function apiClient<T>(config: k8s.KubeConfig, Api: new (c: k8s.Configuration) => T): T {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new Api(
    k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(cluster.server, {}),
      authMethods: { default: config },
      middleware: [deadline(REQUEST_TIMEOUT_MS), k8s.setHeaderMiddleware('User-Agent', 'kured-ts')],
    }),
  );
}

function deadline(ms: number) {
  return {
    pre: (request: k8s.RequestContext) => {
      request.setSignal(AbortSignal.timeout(ms));
      return new k8s.Observable(Promise.resolve(request));
    },
    post: (response: k8s.ResponseContext) => new k8s.Observable(Promise.resolve(response)),
  };
}

/** Options for a JSON merge patch (RFC 7386): the client's default content type is JSON Patch. */
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
