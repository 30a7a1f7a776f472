import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../core/log.ts';
import { httpCode } from './errors.ts';
import type { StreamResponse } from './transport.ts';

/** A streaming GET of an API path (`...?watch=true`): the one place a watch touches HTTP. */
export type OpenStream = (path: string, signal: AbortSignal) => Promise<StreamResponse>;

export interface WatchEvents<T> {
  /** The object as it is now (undefined: deleted). Every change arrives, in order. */
  object(obj: T | undefined): void;
  /** The stream broke: what was seen so far may be stale until the next object(). */
  gap(): void;
  /** The watch starts over from the object's current state (no resourceVersion to resume from). */
  reset(): void;
}

/** The server ends each watch after this many seconds; randomised so that N agents never re-open together. */
export function watchTimeoutSeconds(): number {
  return 300 + Math.floor(Math.random() * 300);
}

/**
 * Follows one named object through a watch that lives as long as the server allows (client-go's
 * reflector style): bookmarks on, resumed from the last resourceVersion seen when the server ends
 * it, started afresh on 410 Gone. Backs off on errors. Returns a stop function.
 */
export function watchObject<T extends k8s.KubernetesObject>(
  open: OpenStream,
  collectionPath: string,
  name: string,
  on: WatchEvents<T>,
  logger: Logger,
): () => void {
  return watchEvents<T>(
    open,
    collectionPath,
    `metadata.name=${name}`,
    { ...on, event: (type, obj) => on.object(type === 'DELETED' ? undefined : obj) },
    logger,
  );
}

/** watchObject for every object a field selector picks: each event with its object. */
function watchEvents<T extends k8s.KubernetesObject>(
  open: OpenStream,
  collectionPath: string,
  fieldSelector: string,
  on: Omit<WatchEvents<T>, 'object'> & { event(type: string, obj: T): void },
  logger: Logger,
): () => void {
  const name = fieldSelector;
  const stopper = new AbortController();
  let resourceVersion: string | undefined;
  let failures = 0;

  /** One watch request; true when it ended because its resourceVersion expired (start afresh at once). */
  const once = async (): Promise<boolean> => {
    const query = new URLSearchParams({
      watch: 'true',
      fieldSelector,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(watchTimeoutSeconds()),
    });
    // Without a resourceVersion the server starts with the object as it is now (ADDED).
    if (resourceVersion) query.set('resourceVersion', resourceVersion);
    else on.reset();
    const { status, lines } = await open(`${collectionPath}?${query}`, stopper.signal);
    if (status === 410) return expired();
    if (status !== 200) throw new Error(`watch ${collectionPath}/${name}: HTTP ${status}`);
    for await (const line of lines) {
      const event = JSON.parse(line) as { type: string; object: T & { code?: number } };
      if (event.type === 'ERROR') {
        if (event.object.code === 410) return expired();
        throw new Error(`watch ${collectionPath}/${name}: ${JSON.stringify(event.object).slice(0, 200)}`);
      }
      resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
      failures = 0;
      if (event.type === 'BOOKMARK') continue;
      on.event(event.type, event.object);
    }
    return false;
  };
  const expired = (): boolean => {
    resourceVersion = undefined;
    on.gap();
    return true;
  };

  void (async () => {
    while (!stopper.signal.aborted) {
      const opened = Date.now();
      try {
        const restart = await once();
        // The server ends a watch at its timeout; one that ends at once is a failure in disguise.
        if (!restart && Date.now() - opened < 1000) throw new Error('the watch ended at once');
      } catch (err) {
        if (stopper.signal.aborted) break;
        failures++;
        on.gap();
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random());
        logger.debug({ path: collectionPath, err: String(err), delay }, 'watch ended; re-establishing');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();
  return () => {
    stopper.abort();
    on.gap();
  };
}

/** How long a read waits for a running watch to show our last write before asking the API server. */
export const CATCH_UP_MS = 1000;

/**
 * The last state of one object as its watch showed it, for reads that need no request. It is only
 * offered while it is known current: the watch is running without a gap, and every write of ours
 * has come back through it (so a read never shows an older state than one we wrote).
 */
export class WatchedObject<T extends k8s.KubernetesObject> implements WatchEvents<T> {
  private obj: T | undefined;
  private synced = false;
  /** A watch is feeding this cache without a gap (it may still be on its way to our last write). */
  private live = false;
  private readonly waiting = new Set<() => void>();
  /** resourceVersions our writes produced that the watch has not shown yet ('?': unknown). */
  private readonly awaiting = new Set<string>();
  /** Recently seen versions: a write's answer may arrive after the watch showed its result. */
  private readonly recent: string[] = [];

  /**
   * The object, or undefined when the cache cannot vouch for it (read it from the API instead).
   * `past`: a version known to be outdated (a write guarded by it was refused), not offered.
   */
  current(past?: string): { obj: T | undefined } | undefined {
    if (!this.synced || this.awaiting.size > 0) return undefined;
    if (past !== undefined && this.obj?.metadata?.resourceVersion === past) return undefined;
    return { obj: this.obj };
  }

  /**
   * current(), waiting up to `ms` for a running watch to show our last write (or its first event,
   * or a version after `past`): the watch brings it about as soon as a GET would, and costs the API
   * server nothing.
   */
  async settled(ms: number, past?: string): Promise<{ obj: T | undefined } | undefined> {
    // A write of unknown outcome is settled only by a fresh start of the watch: nothing to wait for.
    if (this.current(past) || !this.live || this.awaiting.has('?')) return this.current(past);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
    return this.current(past);
  }

  object(obj: T | undefined): void {
    this.obj = obj;
    this.synced = true;
    this.live = true;
    const rv = obj?.metadata?.resourceVersion;
    if (rv) {
      this.awaiting.delete(rv);
      this.recent.push(rv);
      if (this.recent.length > 16) this.recent.shift();
    }
    if (this.current()) this.wakeReaders();
  }

  gap(): void {
    this.synced = false;
    this.live = false;
    this.wakeReaders();
  }

  /** Ends the waits of settled(): the cache is current again, or will not be soon. */
  private wakeReaders(): void {
    for (const done of [...this.waiting]) done();
  }

  reset(): void {
    this.synced = false;
    this.live = true;
    // The next event is the state after everything already written, ours included.
    this.awaiting.clear();
    this.recent.length = 0;
  }

  /** Our write produced this version (undefined: it may or may not have landed: wait for a reset). */
  wrote(resourceVersion: string | undefined): void {
    const rv = resourceVersion ?? '?';
    if (!this.recent.includes(rv)) this.awaiting.add(rv);
  }
}

/** Runs one of our writes to a watched object and tells its cache which version it produced. */
export async function tracked<T extends k8s.KubernetesObject>(
  cache: WatchedObject<T> | undefined,
  write: () => Promise<T>,
): Promise<T> {
  try {
    const obj = await write();
    cache?.wrote(obj.metadata?.resourceVersion);
    return obj;
  } catch (err) {
    // A 4xx was refused (nothing written); a timeout or 5xx may have landed.
    const code = httpCode(err);
    if (code === undefined || code >= 500) cache?.wrote(undefined);
    throw err;
  }
}

/**
 * Feeds a watch into a cache and calls wake() when `key` of the object changes (so a kubelet's
 * status heartbeats wake nobody). Returns a stop function.
 */
export function follow<T extends k8s.KubernetesObject>(
  open: OpenStream,
  collectionPath: string,
  name: string,
  cache: WatchedObject<T>,
  wake: () => void,
  key: (obj: T | undefined) => string,
  logger: Logger,
): () => void {
  let last: string | undefined;
  return watchObject<T>(
    open,
    collectionPath,
    name,
    {
      object: (obj) => {
        cache.object(obj);
        const k = key(obj);
        if (k === last) return;
        last = k;
        wake();
      },
      gap: () => cache.gap(),
      reset: () => cache.reset(),
    },
    logger,
  );
}

/**
 * Calls onChange when an object a field selector picks (e.g. the pods on one node) changes in a way
 * that matters (`relevant` maps it to a key), over the same long-lived streaming watch. Used for the
 * pods of a node settling after its reboot.
 */
export function watchSelected(
  open: OpenStream,
  collectionPath: string,
  fieldSelector: string,
  onChange: () => void,
  logger: Logger,
  relevant: (obj: k8s.KubernetesObject) => string = (obj) => obj.metadata?.resourceVersion ?? '',
): () => void {
  const lastKeys = new Map<string, string>();
  let stopped = false;
  const stop = watchEvents<k8s.KubernetesObject>(
    open,
    collectionPath,
    fieldSelector,
    {
      event: (type, obj) => {
        const id = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
        const key = `${type === 'DELETED' ? 'deleted' : ''}${relevant(obj)}`;
        if (key === lastKeys.get(id)) return;
        lastKeys.set(id, key);
        onChange();
      },
      // A gap may have hidden a change (and a refused watch is all gaps): look again, at the
      // watch's own backoff, so a node without the watch grant still finishes, only later.
      gap: () => {
        if (!stopped) onChange();
      },
      reset: () => {},
    },
    logger,
  );
  return () => {
    stopped = true;
    stop();
  };
}
