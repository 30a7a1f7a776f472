import type { V1Eviction, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../core/log.ts';
import type { Clock } from '../core/ports.ts';
import { type Kube, paths } from '../kube/client.ts';
import { isNotFound, statusMessage } from '../kube/errors.ts';
import type { PodOutcome } from './drain-result.ts';
import { classifyEvictionError } from './eviction-refusal.ts';
import { deletedLongerAgoThan, podKey } from './pod-filter.ts';
import { budgetRetryDelayMs, errorRetryDelayMs } from './retry-delay.ts';

/** Everything one pod's eviction needs; shared by all pods of a drain. */
export interface EvictionContext {
  kube: Kube;
  clock: Clock;
  logger: Logger;
  /** −1: the pod's own terminationGracePeriodSeconds. */
  gracePeriodSeconds: number;
  skipWaitForDeleteTimeoutSeconds: number;
  /** Base delay between attempts refused by a budget, and of the error backoff. */
  retryDelayMs: number;
  deadline?: Date;
  signal?: AbortSignal;
  random?: () => number;
  /** Told of each refusal worth an operator's eye (a webhook's denial), e.g. to record an Event. */
  onDenied?: (pod: string, cause: string) => void;
}

const DELETE_POLL_MS = 1000;
const CONFLICT_RETRY_MS = 1000;

/**
 * Evicts one pod through the Eviction API (so PodDisruptionBudgets hold), retrying what can be
 * retried until the deadline, then waits until the pod is gone. Never throws.
 */
export async function evictPod(ctx: EvictionContext, pod: V1Pod): Promise<PodOutcome> {
  const key = podKey(pod);
  const log = ctx.logger.child({ pod: key });
  const uid = pod.metadata?.uid;
  let current = pod;
  let lastCause = 'not attempted';
  let errors = 0;
  let denials = 0;
  for (let attempt = 1; !stopped(ctx); attempt++) {
    try {
      // The refusal before each retry is logged at info already; the retry itself is detail.
      if (attempt === 1) log.info('evicting pod');
      else log.debug({ attempt }, 'evicting pod again');
      await ctx.kube.create(
        paths.eviction(current.metadata!.namespace!, current.metadata!.name!),
        evictionFor(current, ctx.gracePeriodSeconds),
      );
      log.info('pod evicted, waiting for it to terminate');
      return await waitUntilGone(ctx, current, uid, log);
    } catch (err) {
      const refusal = classifyEvictionError(err, current.metadata!.namespace!);
      if (refusal.kind === 'gone') {
        log.info('pod already gone');
        return { pod: key, gone: true };
      }
      lastCause = refusal.cause;
      if (refusal.kind === 'multipleBudgets' || refusal.kind === 'rejected') {
        log.warn({ cause: refusal.cause }, 'pod cannot be evicted');
        return { pod: key, gone: false, cause: refusal.cause, permanent: true };
      }
      if (refusal.kind === 'namespaceTerminating' && current.metadata?.deletionTimestamp) {
        log.info({ cause: refusal.cause }, 'pod is being deleted with its namespace, waiting');
        return await waitUntilGone(ctx, current, uid, log);
      }
      if (refusal.kind === 'transient') errors++;
      if (refusal.kind === 'denied') {
        denials++;
        ctx.onDenied?.(key, refusal.cause);
      }
      const delay =
        refusal.kind === 'budget'
          ? budgetRetryDelayMs(refusal.retryAfterMs, ctx.retryDelayMs, ctx.random)
          : refusal.kind === 'conflict'
            ? CONFLICT_RETRY_MS // usually the pod was replaced under our UID precondition: the re-read shows it
            : refusal.kind === 'denied'
              ? errorRetryDelayMs(denials, ctx.retryDelayMs, ctx.random) // a webhook's verdict changes slowly
              : errorRetryDelayMs(errors, ctx.retryDelayMs, ctx.random);
      const budgets =
        refusal.kind === 'budget' && refusal.budgets.length > 0 ? { budgets: refusal.budgets } : {};
      log.info({ retryInMs: delay, cause: refusal.cause, ...budgets }, 'eviction refused, retrying');
      await sleepWithinDeadline(ctx, delay);
      // The pod may be gone or replaced under the same name (a StatefulSet) while we waited.
      const fresh = await readPod(ctx, current, log);
      if (fresh === 'gone' || (uid !== undefined && fresh.metadata?.uid !== uid)) {
        log.info('pod gone');
        return { pod: key, gone: true };
      }
      current = fresh;
    }
  }
  return { pod: key, gone: false, cause: lastCause, permanent: false };
}

function evictionFor(pod: V1Pod, gracePeriodSeconds: number): V1Eviction {
  return {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: pod.metadata!.name!, namespace: pod.metadata!.namespace! },
    deleteOptions: {
      ...(gracePeriodSeconds >= 0 ? { gracePeriodSeconds } : {}),
      // Never evict a replacement that took the name while we were retrying.
      ...(pod.metadata?.uid ? { preconditions: { uid: pod.metadata.uid } } : {}),
    },
  };
}

/** Polls until the pod is deleted, replaced (UID changed) or deleting for longer than skip-wait. */
async function waitUntilGone(
  ctx: EvictionContext,
  pod: V1Pod,
  uid: string | undefined,
  log: Logger,
): Promise<PodOutcome> {
  const key = podKey(pod);
  let current = pod;
  for (;;) {
    const fresh = await readPod(ctx, current, log);
    if (fresh === 'gone' || (uid !== undefined && fresh.metadata?.uid !== uid)) {
      log.info('pod gone');
      return { pod: key, gone: true };
    }
    if (deletedLongerAgoThan(fresh, ctx.skipWaitForDeleteTimeoutSeconds, ctx.clock.now())) {
      log.info('pod deleting longer than skip-wait-for-delete-timeout, not waiting for it');
      return { pod: key, gone: true };
    }
    current = fresh;
    if (stopped(ctx))
      return { pod: key, gone: false, cause: 'evicted but still terminating', permanent: false };
    await sleepWithinDeadline(ctx, DELETE_POLL_MS);
  }
}

/** GETs the pod again; on a read error keeps what we had, so a blip of the API server is not fatal. */
async function readPod(ctx: EvictionContext, pod: V1Pod, log: Logger): Promise<V1Pod | 'gone'> {
  try {
    return await ctx.kube.get<V1Pod>(paths.pod(pod.metadata!.namespace!, pod.metadata!.name!));
  } catch (err) {
    if (isNotFound(err)) return 'gone';
    log.warn({ cause: statusMessage(err) }, 'cannot read pod, will look again');
    return pod;
  }
}

function stopped(ctx: EvictionContext): boolean {
  return ctx.signal?.aborted === true || (ctx.deadline !== undefined && ctx.clock.now() >= ctx.deadline);
}

async function sleepWithinDeadline(ctx: EvictionContext, ms: number): Promise<void> {
  const left =
    ctx.deadline === undefined ? ms : Math.min(ms, ctx.deadline.getTime() - ctx.clock.now().getTime());
  if (left > 0) await ctx.clock.sleep(left, ctx.signal);
}
