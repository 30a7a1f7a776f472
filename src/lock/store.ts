import type * as k8s from '@kubernetes/client-node';
import type { Clock } from '../agent/ports.ts';
import { type Kube, paths } from '../kube/client.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { Logger } from '../observe/log.ts';
import { type AcquireOutcome, acquire, type LockValue, parseLock, release } from './codec.ts';

export interface LockSettings {
  namespace: string;
  name: string;
  annotation: string;
  concurrency: number;
  ttlMs: number;
}

/**
 * kured's lock on its DaemonSet, written with optimistic concurrency: every write is a merge
 * patch carrying the resourceVersion we read, so a concurrent writer makes it fail with 409 and we
 * read again. Never a blind overwrite.
 */
export class DaemonSetLock {
  readonly settings: LockSettings;
  private readonly kube: Kube;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(kube: Kube, settings: LockSettings, clock: Clock, logger: Logger) {
    this.kube = kube;
    this.settings = settings;
    this.clock = clock;
    this.logger = logger;
  }

  async read(): Promise<{ value: LockValue; resourceVersion: string }> {
    const { name, namespace } = this.settings;
    const ds = await this.kube
      .get<k8s.V1DaemonSet>(paths.daemonSet(namespace, name))
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
        throw new Error(
          `the lock DaemonSet ${namespace}/${name} does not exist; check --ds-namespace and --ds-name`,
        );
      });
    const raw = ds.metadata?.annotations?.[this.settings.annotation];
    return { value: parseLock(raw), resourceVersion: ds.metadata?.resourceVersion ?? '' };
  }

  async acquire(nodeID: string, unschedulable: boolean): Promise<AcquireOutcome> {
    return this.update((value) => {
      const outcome = acquire(value, { nodeID, unschedulable, ...this.limits() });
      return { write: outcome.ok ? outcome.annotation : false, result: outcome };
    });
  }

  async release(nodeID: string): Promise<void> {
    await this.update((value) => ({
      write: release(value, nodeID, this.settings.concurrency, this.clock.now()) ?? null,
      result: undefined,
    }));
  }

  private limits() {
    return { concurrency: this.settings.concurrency, ttlMs: this.settings.ttlMs, now: this.clock.now() };
  }

  /** Read-modify-write until no conflict. `write: false` leaves the object alone, null removes the annotation. */
  private async update<T>(change: (v: LockValue) => { write: string | null | false; result: T }): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { value, resourceVersion } = await this.read();
      const { write, result } = change(value);
      if (write === false) return result;
      try {
        await this.kube.mergePatch(paths.daemonSet(this.settings.namespace, this.settings.name), {
          metadata: { resourceVersion, annotations: { [this.settings.annotation]: write } },
        });
        return result;
      } catch (err) {
        if (!isConflict(err) || attempt >= 20) throw err;
        this.logger.debug({ attempt }, 'lock changed while we wrote it; reading again');
        await this.clock.sleep(50 + Math.random() * 200 * attempt);
      }
    }
  }
}
