import type * as k8s from '@kubernetes/client-node';
import type { Config } from '../core/config.ts';
import {
  type AcquireOutcome,
  acquire,
  type Forgotten,
  type LockEntry,
  type LockValue,
  liveEntries,
  parseLock,
  putBack,
  release,
} from '../core/lock/codec.ts';
import { PAUSE_ANNOTATION, parsePause, pendingManualLock } from '../core/lock/pause.ts';
import {
  holderZones,
  nameNext,
  parseQueue,
  QUEUE_ANNOTATION,
  type Queue,
  serializeQueue,
  type Waiter,
} from '../core/lock/queue.ts';
import type { Logger } from '../core/log.ts';
import type { AcquireOptions, Clock, LockRead } from '../core/ports.ts';
import { type Kube, paths } from '../kube/client.ts';
import { ApiError, isConflict, isNotFound } from '../kube/errors.ts';
import { CATCH_UP_MS, tracked, type WatchedObject } from '../kube/watch.ts';

export interface LockSettings {
  namespace: string;
  name: string;
  annotation: string;
  concurrency: number;
  ttlMs: number;
  /** --max-zones: 0 for no zone rule. */
  maxZones: number;
  /**
   * 'update': the RBAC grants `update` but not `patch` on the DaemonSet (kured's own Role): each
   * write reads the object and PUTs it back, still conditional on the version the change came from.
   */
  writeBy?: 'patch' | 'update';
}

/** The lock's place and rules from the agents' flags (the operator commands read the same flags). */
export function lockSettings(
  c: Pick<Config, 'dsNamespace' | 'dsName' | 'lockAnnotation' | 'concurrency' | 'lockTtlMs' | 'maxZones'>,
): LockSettings {
  return {
    namespace: c.dsNamespace,
    name: c.dsName,
    annotation: c.lockAnnotation,
    concurrency: c.concurrency,
    ttlMs: c.lockTtlMs,
    maxZones: c.maxZones,
  };
}

/**
 * kured's lock on its DaemonSet, written with optimistic concurrency: every write is a merge
 * patch carrying the resourceVersion we read, so a concurrent writer makes it fail with 409 and we
 * read again. Never a blind overwrite. The hand-over annotation (./queue.ts) rides in the same patch.
 */
export class DaemonSetLock {
  readonly settings: LockSettings;
  private readonly kube: Kube;
  private readonly clock: Clock;
  private readonly logger: Pick<Logger, 'debug'>;
  private readonly cache: WatchedObject<k8s.V1DaemonSet> | undefined;

  /** With a cache (fed by the lock watch) reads cost no request while the watch runs. */
  constructor(
    kube: Kube,
    settings: LockSettings,
    clock: Clock,
    logger: Pick<Logger, 'debug'>,
    cache?: WatchedObject<k8s.V1DaemonSet>,
  ) {
    this.kube = kube;
    this.settings = settings;
    this.clock = clock;
    this.logger = logger;
    this.cache = cache;
  }

  /**
   * The lock as the watch last showed it, or read from the API (`fresh`, or no current watch).
   * `past`: a version a write of ours was refused for: the next one the watch shows.
   */
  async read(fresh = false, past?: string): Promise<LockRead> {
    const cached = fresh ? undefined : (await this.cache?.settled(CATCH_UP_MS, past))?.obj;
    const ds = cached ?? (await this.get());
    const annotations = ds.metadata?.annotations ?? {};
    return {
      annotation: annotations[this.settings.annotation],
      value: parseLock(annotations[this.settings.annotation]),
      queue: parseQueue(annotations[QUEUE_ANNOTATION]),
      resourceVersion: ds.metadata?.resourceVersion ?? '',
      uid: ds.metadata?.uid ?? '',
      // The lock is the agents' own DaemonSet (or kured's): its pods, one per node that runs an agent.
      fleetSize: ds.status?.desiredNumberScheduled ?? 0,
      // `kured-ts pause` beside the lock: read with it, so honouring it costs no request.
      pause: parsePause(annotations[PAUSE_ANNOTATION]),
    };
  }

  private get(): Promise<k8s.V1DaemonSet> {
    const { name, namespace } = this.settings;
    return this.kube.get<k8s.V1DaemonSet>(paths.daemonSet(namespace, name)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      throw new Error(
        `the lock DaemonSet ${namespace}/${name} does not exist; check --ds-namespace and --ds-name`,
      );
    });
  }

  /**
   * Takes a slot (zone rule included). With the waiting nodes at hand, names the next ones in the
   * same write; without, just drops us from the names.
   */
  async acquire(nodeID: string, unschedulable: boolean, opts: AcquireOptions): Promise<AcquireOutcome> {
    return this.update<AcquireOutcome>(opts.wake, ({ value, queue }) => {
      const { maxZones } = this.settings;
      const forgotten = opts.forgotten ?? [];
      const known = { ...queue.zones, ...Object.fromEntries(forgotten.map((f) => [f.nodeID, f.zone])) };
      const outcome = acquire(value, {
        nodeID,
        unschedulable,
        ...this.limits(),
        forgotten,
        ...(maxZones > 0 ? { zone: { mine: opts.zone, holders: known, maxZones } } : {}),
      });
      const others = [...this.holders(value), ...forgotten.map((f) => f.nodeID)];
      if (!outcome.ok) {
        // No slot for us, but the forgotten holders go back in the lock: the next look sees it full.
        if (outcome.annotation === undefined) return { write: false, result: outcome };
        const zones = holderZones(known, others);
        return { write: { lock: outcome.annotation, queue: { ...queue, zones } }, result: outcome };
      }
      const holders = [...new Set([...others, nodeID])];
      const zones = holderZones(known, holders, { name: nodeID, zone: opts.zone });
      const next = opts.waiters
        ? nameNext(opts.waiters, holders, zones, this.settings)
        : queue.next.filter((n) => n !== nodeID);
      return { write: { lock: outcome.annotation, queue: { next, zones } }, result: outcome };
    });
  }

  /** Lets go; with the waiting nodes at hand, names who goes next in the same write. */
  async release(
    nodeID: string,
    waiters?: Waiter[],
    wake?: (nodes: string[]) => Promise<void>,
  ): Promise<void> {
    await this.update(wake, ({ value, queue, pause }) => {
      const holders = this.holders(value).filter((h) => h !== nodeID);
      const zones = holderZones(queue.zones, holders);
      const next = waiters ? nameNext(waiters, holders, zones, this.settings) : queue.next;
      const lock = release(value, nodeID, this.settings.concurrency, this.clock.now());
      // A pause waiting for this holder: hand the lock to kured's manual stop instead of freeing it.
      if (lock === undefined && pause && !('malformed' in pause) && pause.lock === 'pending') {
        return {
          write: {
            lock: pendingManualLock(pause),
            queue: { next, zones },
            extra: { [PAUSE_ANNOTATION]: JSON.stringify({ ...pause, lock: 'written' }) },
          },
          result: undefined,
        };
      }
      return {
        write: { ...(lock === false ? {} : { lock: lock ?? null }), queue: { next, zones } },
        result: undefined,
      };
    });
  }

  /**
   * Names the next node(s) without touching the lock: one write, conditional on the version the
   * names were chosen from. A conflict means someone else moved the line meanwhile (took a slot,
   * named others): their word stands, and our names, chosen from an older state, are dropped.
   */
  async name(next: string[], basis: string): Promise<boolean> {
    const { queue, resourceVersion } = await this.read();
    if (resourceVersion !== basis) return false;
    try {
      await this.patch(basis, { [QUEUE_ANNOTATION]: serializeQueue({ ...queue, next }) });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  async putBack(holder: Forgotten): Promise<boolean> {
    return this.update<boolean>(undefined, ({ value, queue }) => {
      const lock = putBack(value, [holder], this.limits());
      if (lock === false) return { write: false, result: false };
      const zones = { ...queue.zones, [holder.nodeID]: holder.zone };
      return { write: { lock, queue: { ...queue, zones } }, result: true };
    });
  }

  /**
   * Removes the entries of these holders (as read: same node and creation time), in either form;
   * the manual entry is never one of them. Returns who was removed.
   */
  async remove(entries: LockEntry[]): Promise<string[]> {
    return this.update<string[]>(undefined, ({ value, queue }) => {
      const now = this.clock.now();
      const gone = liveEntries(value, now).filter((e) =>
        entries.some((g) => g.nodeID === e.nodeID && g.created === e.created),
      );
      if (gone.length === 0) return { write: false, result: [] };
      let lock: string | null = null;
      let rest = value;
      for (const g of gone) {
        const next = release(rest, g.nodeID, this.settings.concurrency, now);
        if (next === false) continue;
        lock = next ?? null;
        rest = parseLock(lock ?? undefined);
      }
      const holders = liveEntries(rest, now).map((e) => e.nodeID);
      return {
        write: { lock, queue: { ...queue, zones: holderZones(queue.zones, holders) } },
        result: gone.map((g) => g.nodeID),
      };
    });
  }

  /** One merge patch of annotations, guarded by the resourceVersion it was computed from. */
  private async patch(resourceVersion: string, annotations: Record<string, string | null>): Promise<void> {
    const { namespace, name } = this.settings;
    const path = paths.daemonSet(namespace, name);
    if (this.settings.writeBy === 'update') {
      await tracked(this.cache, () => this.put(path, resourceVersion, annotations));
      return;
    }
    await tracked(this.cache, () =>
      this.kube.mergePatch<k8s.V1DaemonSet>(path, { metadata: { resourceVersion, annotations } }),
    );
  }

  /** The patch as kured writes its lock: the whole object back, guarded by the version read. */
  private async put(
    path: string,
    resourceVersion: string,
    annotations: Record<string, string | null>,
  ): Promise<k8s.V1DaemonSet> {
    const ds = await this.kube.get<k8s.V1DaemonSet>(path);
    if (ds.metadata?.resourceVersion !== resourceVersion) {
      throw new ApiError(409, { reason: 'Conflict', message: 'the lock changed' }, {}, `PUT ${path}`);
    }
    const merged: Record<string, string> = { ...ds.metadata?.annotations };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    return this.kube.replace<k8s.V1DaemonSet>(path, {
      ...ds,
      metadata: { ...ds.metadata, annotations: merged },
    });
  }

  private holders(value: LockValue): string[] {
    return liveEntries(value, this.clock.now()).map((e) => e.nodeID);
  }

  private limits() {
    return { concurrency: this.settings.concurrency, ttlMs: this.settings.ttlMs, now: this.clock.now() };
  }

  /**
   * Read-modify-write until no conflict, the lock, its hand-over and any other annotation (the
   * pause record) in one merge patch guarded by the resourceVersion read. `write: false` leaves the
   * object alone; a null lock removes it. Every write of the lock goes through here: the agent's
   * and the operator's (`kured-ts pause` and `resume`, src/cli/pause.ts).
   */
  async update<T>(
    wake: ((nodes: string[]) => Promise<void>) | undefined,
    change: (r: LockRead) => { write: LockWrite | false; result: T },
  ): Promise<T> {
    let refused: string | undefined;
    for (let attempt = 1; ; attempt++) {
      // After a conflict, the winner's write as the watch shows it (else from the API): it comes
      // about as soon as a GET's answer would, and costs the API server nothing (a wave of 50
      // releasing and taking slots met 4-5 conflicts per hand-over).
      const read = await this.read(false, refused);
      const { write, result } = change(read);
      if (write === false) return result;
      // Woken first, named second: a node woken for names that a crash then never wrote only
      // watches the lock for nothing, while names written before the wake could go unseen. Names
      // written where nobody was named wake nobody: a node that saw nobody named watches the lock,
      // and the first rush's racers (fifty for fifty slots) would otherwise mark each other.
      const newlyNamed = (write.queue?.next ?? []).filter((n) => !read.queue.next.includes(n));
      if (wake && read.queue.next.length > 0 && newlyNamed.length > 0) await wake(newlyNamed);
      const annotations: Record<string, string | null> = {};
      if (write.lock !== undefined) annotations[this.settings.annotation] = write.lock;
      if (write.queue) annotations[QUEUE_ANNOTATION] = serializeQueue(write.queue);
      Object.assign(annotations, write.extra);
      try {
        await this.patch(read.resourceVersion, annotations);
        return result;
      } catch (err) {
        if (!isConflict(err) || attempt >= 20) throw err;
        refused = read.resourceVersion;
        this.logger.debug({ attempt }, 'lock changed while we wrote it; reading again');
        // A conflict is settled as soon as we read the winner's write: a short jitter is enough to
        // part writers that collide again (holders of one wave release within moments of each other).
        await this.clock.sleep(Math.random() * 50 * attempt);
      }
    }
  }
}

export interface LockWrite {
  /** The lock annotation (null: remove it); undefined leaves it as is. */
  lock?: string | null;
  queue?: Queue;
  /** Other annotations written in the same patch (the pause record; null removes one). */
  extra?: Record<string, string | null>;
}
