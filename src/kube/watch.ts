import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../observe/log.ts';

/**
 * Calls onChange for every event on one named object, re-establishing the watch when the server
 * ends it (it does every few minutes) or the connection drops. Returns a stop function.
 * The watch only wakes the reconciler: what to do is always decided from a fresh read.
 */
export function watchNamed(
  config: k8s.KubeConfig,
  collectionPath: string,
  name: string,
  onChange: () => void,
  logger: Logger,
): () => void {
  let stopped = false;
  let current: AbortController | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  const watch = new k8s.Watch(config);

  const start = async (): Promise<void> => {
    if (stopped) return;
    try {
      current = await watch.watch(
        collectionPath,
        { fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: false },
        (phase) => {
          failures = 0;
          if (phase !== 'BOOKMARK') onChange();
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
    // Re-read after a reconnect: events may have been missed meanwhile.
    onChange();
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
    retryTimer = setTimeout(() => void start(), err ? delay : 0);
  };

  void start();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    current?.abort();
  };
}
