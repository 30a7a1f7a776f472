import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../observe/log.ts';

/**
 * Calls onChange when one named object changes in a way that matters (`relevant` maps it to a key;
 * only a new key wakes us, so a kubelet's status heartbeats cost nothing), re-establishing the
 * watch when the server ends it or the connection drops. Returns a stop function.
 * The watch only wakes the reconciler: what to do is always decided from a fresh read.
 */
export function watchNamed(
  config: k8s.KubeConfig,
  collectionPath: string,
  name: string,
  onChange: () => void,
  logger: Logger,
  relevant: (obj: k8s.KubernetesObject) => string = (obj) => obj.metadata?.resourceVersion ?? '',
): () => void {
  return watchSelected(config, collectionPath, `metadata.name=${name}`, onChange, logger, relevant);
}

/** watchNamed for every object a field selector picks (e.g. the pods on one node), keyed per object. */
export function watchSelected(
  config: k8s.KubeConfig,
  collectionPath: string,
  fieldSelector: string,
  onChange: () => void,
  logger: Logger,
  relevant: (obj: k8s.KubernetesObject) => string = (obj) => obj.metadata?.resourceVersion ?? '',
): () => void {
  const lastKeys = new Map<string, string>();
  let stopped = false;
  let current: AbortController | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  const watch = new k8s.Watch(config);

  // A watch without a resourceVersion starts with the object as it is now (ADDED): after a
  // reconnect that first event reveals anything missed meanwhile, through the key comparison.
  const start = async (): Promise<void> => {
    if (stopped) return;
    try {
      current = await watch.watch(
        collectionPath,
        { fieldSelector, allowWatchBookmarks: false },
        (phase, obj: k8s.KubernetesObject) => {
          failures = 0;
          if (phase === 'BOOKMARK') return;
          const id = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
          const key = `${phase === 'DELETED' ? 'deleted' : ''}${relevant(obj)}`;
          if (key === lastKeys.get(id)) return;
          lastKeys.set(id, key);
          onChange();
        },
        (err) => restart(err),
      );
    } catch (err) {
      restart(err);
    }
  };
  const restart = (err: unknown): void => {
    if (stopped) return;
    if (err) {
      failures++;
      logger.debug({ path: collectionPath, err: String(err) }, 'watch ended; re-establishing');
    }
    const delay = err ? Math.min(30_000, 500 * 2 ** Math.min(failures, 6)) : 0;
    retryTimer = setTimeout(() => void start(), delay);
  };

  void start();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    current?.abort();
  };
}
