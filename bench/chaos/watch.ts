/** List, then watch from the list's version; a watch that ends resumes, one that fails re-lists (after a pause). */
import { type KubeConfig, Watch } from '@kubernetes/client-node';

export interface Follower {
  /** Resolves once the first list was read. */
  ready: Promise<void>;
  stop(): void;
}

export function followObjects<T extends { metadata?: { resourceVersion?: string } }>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<{ items: T[]; rv: string }>,
  on: (type: 'LISTED' | 'ADDED' | 'MODIFIED' | 'DELETED', o: T) => void,
  onRelist: (items: T[]) => void,
  fieldSelector?: string,
): Follower {
  let stopped = false;
  let abort: AbortController | undefined;
  let rv = '';
  const relist = async () => {
    const l = await list();
    onRelist(l.items);
    rv = l.rv;
  };
  const watch = async (): Promise<void> => {
    if (stopped) return;
    let failed = false;
    abort = await new Watch(kc).watch(
      path,
      { resourceVersion: rv, allowWatchBookmarks: true, ...(fieldSelector ? { fieldSelector } : {}) },
      (type: string, o: T) => {
        if (type === 'ERROR') {
          failed = true; // 410 Gone: our version is too old
          return;
        }
        rv = o.metadata?.resourceVersion ?? rv;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') on(type, o);
      },
      (err) => {
        if (stopped) return;
        const again = async () => {
          if (err || failed) await relist();
          await watch();
        };
        const retry = () => setTimeout(() => void again().catch(retry), err || failed ? 1000 : 0).unref?.();
        retry();
      },
    );
  };
  let listed: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    listed = resolve;
  });
  const begin = async () => {
    await relist();
    listed();
    await watch();
  };
  const retryBegin = (): void => {
    if (!stopped) void begin().catch(() => setTimeout(retryBegin, 1000));
  };
  retryBegin();
  return {
    ready,
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}
