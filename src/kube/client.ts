/**
 * The agent's Kubernetes client: the few calls it makes (get, list, create, merge patch, evict, watch
 * streams), typed with @kubernetes/client-node's model types (type-only: nothing of client-node is
 * loaded at run time) over our own transport. Objects are the API server's JSON as it is: dates
 * are strings, and a list's continue token is `metadata.continue`.
 */
import { type KubeconfigEnv, type LoadOptions, loadConnection } from './kubeconfig.ts';
import { KubeTransport, type Query, type StreamResponse, type TransportOptions } from './transport.ts';

export { REQUEST_TIMEOUT_MS } from './transport.ts';

/** A list's items and its continue token (the wire name; client-node calls it `_continue`). */
export interface KubeList<T> {
  items: T[];
  metadata?: { continue?: string; resourceVersion?: string };
}

/** An item of a metadata-only list (meta.k8s.io/v1 PartialObjectMetadata). */
export interface ObjectMetadataOnly {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export class Kube {
  readonly transport: KubeTransport;

  constructor(transport: KubeTransport) {
    this.transport = transport;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.transport.request<T>('GET', path, {
      ...(query ? { query } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  list<T>(path: string, query?: Query, signal?: AbortSignal): Promise<KubeList<T>> {
    return this.get<KubeList<T>>(path, query, signal);
  }

  /**
   * Only the objects' metadata (names, labels, annotations): the API server leaves out spec and
   * status, which for a Node (its images, conditions, addresses) are most of its size.
   */
  listMetadata(path: string, query?: Query): Promise<KubeList<ObjectMetadataOnly>> {
    return this.transport.request<KubeList<ObjectMetadataOnly>>('GET', path, {
      ...(query ? { query } : {}),
      accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
    });
  }

  create<T>(path: string, body: object): Promise<T> {
    return this.transport.request<T>('POST', path, { body });
  }

  /** A JSON merge patch (RFC 7386): null removes a field; a resourceVersion in it makes the write conditional. */
  mergePatch<T>(path: string, body: object): Promise<T> {
    return this.transport.request<T>('PATCH', path, { body, contentType: 'application/merge-patch+json' });
  }

  /** A whole-object update (PUT), conditional on the resourceVersion in it: for a grant of `update` without `patch`. */
  replace<T>(path: string, body: object): Promise<T> {
    return this.transport.request<T>('PUT', path, { body });
  }

  /** Deletes the objects a label selector picks (one request: `deletecollection`). */
  deleteCollection(path: string, query: Query): Promise<unknown> {
    return this.transport.request('DELETE', path, { query });
  }

  /** A streaming GET for watches; the deadline covers only the response headers. */
  stream(path: string, signal: AbortSignal): Promise<StreamResponse> {
    return this.transport.stream(path, signal);
  }
}

/** In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config (as kubectl does). */
export function connect(env: KubeconfigEnv = process.env, opts: LoadOptions & TransportOptions = {}): Kube {
  return new Kube(new KubeTransport(loadConnection(env, opts), opts));
}

const seg = encodeURIComponent;

/** API paths of the objects the agent touches. */
export const paths = {
  nodes: '/api/v1/nodes',
  node: (name: string) => `/api/v1/nodes/${seg(name)}`,
  /** All namespaces' pods (list with a field selector on spec.nodeName). */
  pods: '/api/v1/pods',
  pod: (namespace: string, name: string) => `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`,
  eviction: (namespace: string, name: string) =>
    `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}/eviction`,
  daemonSets: (namespace: string) => `/apis/apps/v1/namespaces/${seg(namespace)}/daemonsets`,
  daemonSet: (namespace: string, name: string) =>
    `/apis/apps/v1/namespaces/${seg(namespace)}/daemonsets/${seg(name)}`,
  events: (namespace: string) => `/apis/events.k8s.io/v1/namespaces/${seg(namespace)}/events`,
  /** All namespaces' PodDisruptionBudgets. */
  podDisruptionBudgets: '/apis/policy/v1/poddisruptionbudgets',
};
