import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../observe/log.ts';
import type { StreamResponse } from './transport.ts';

/** A streaming GET of an API path (`...?watch=true`): the one place a watch touches HTTP. */
export type OpenStream = (path: string, signal: AbortSignal) => Promise<StreamResponse>;

/**
 * Calls onChange when one named object changes in a way that matters (`relevant` maps it to a key;
 * only a new key wakes us, so a kubelet's status heartbeats cost nothing), re-establishing the
 * watch when the server ends it or the connection drops. Returns a stop function.
 * The watch only wakes the reconciler: what to do is always decided from a fresh read.
 */
export function watchNamed(
  open: OpenStream,
  collectionPath: string,
  name: string,
  onChange: () => void,
  logger: Logger,
  relevant: (obj: k8s.KubernetesObject) => string = (obj) => obj.metadata?.resourceVersion ?? '',
): () => void {
  return watchSelected(open, collectionPath, `metadata.name=${name}`, onChange, logger, relevant);
}

/** watchNamed for every object a field selector picks (e.g. the pods on one node), keyed per object. */
export function watchSelected(
  open: OpenStream,
  collectionPath: string,
  fieldSelector: string,
  onChange: () => void,
  logger: Logger,
  relevant: (obj: k8s.KubernetesObject) => string = (obj) => obj.metadata?.resourceVersion ?? '',
): () => void {
  const lastKeys = new Map<string, string>();
  const stopper = new AbortController();
  let failures = 0;

  // A watch without a resourceVersion starts with the object as it is now (ADDED): after a
  // reconnect that first event reveals anything missed meanwhile, through the key comparison.
  const once = async (): Promise<void> => {
    const query = new URLSearchParams({ watch: 'true', fieldSelector });
    const { status, lines } = await open(`${collectionPath}?${query}`, stopper.signal);
    if (status !== 200) throw new Error(`watch ${collectionPath} (${fieldSelector}): HTTP ${status}`);
    for await (const line of lines) {
      const event = JSON.parse(line) as { type: string; object: k8s.KubernetesObject };
      if (event.type === 'ERROR') throw new Error(`watch ${collectionPath}: ${line.slice(0, 200)}`);
      failures = 0;
      if (event.type === 'BOOKMARK') continue;
      const obj = event.object;
      const id = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
      const key = `${event.type === 'DELETED' ? 'deleted' : ''}${relevant(obj)}`;
      if (key === lastKeys.get(id)) continue;
      lastKeys.set(id, key);
      onChange();
    }
  };

  void (async () => {
    while (!stopper.signal.aborted) {
      try {
        await once();
      } catch (err) {
        if (stopper.signal.aborted) break;
        failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        logger.debug({ path: collectionPath, err: String(err), delay }, 'watch ended; re-establishing');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();
  return () => stopper.abort();
}
