import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../core/log.ts';
import type { Clock, Drainer, DrainOptions, DrainResult } from '../core/ports.ts';
import type { Kube } from '../kube/client.ts';
import { statusMessage } from '../kube/errors.ts';
import { type DrainEnd, drainResult } from './drain-result.ts';
import { type EvictionContext, evictPod } from './evict-pod.ts';
import { listPodsOnNode } from './list-pods.ts';
import {
  type EvictWarning,
  SKIP_TEXT,
  type SkipReason,
  selectPodsToEvict,
  WARNING_TEXT,
} from './pod-filter.ts';
import { errorRetryDelayMs } from './retry-delay.ts';
import { runCapped } from './run-capped.ts';

export interface DrainerOptions {
  /** `--drain-grace-period`: −1 uses each pod's own terminationGracePeriodSeconds. */
  gracePeriodSeconds: number;
  /** `--drain-pod-selector`: only pods matching this label selector are drained; '' = all. */
  podSelector: string;
  /** `--skip-wait-for-delete-timeout`: pods deleting for longer than this are not waited for; 0 = always wait. */
  skipWaitForDeleteTimeoutSeconds: number;
  /** Evictions in flight at once (kubectl has no cap; brupop uses 5). */
  parallelism?: number;
  clock: Clock;
  logger: Logger;
  /** Base delay before retrying an eviction a budget refused (kubectl: 5 s). */
  retryDelayMs?: number;
  /** Injectable randomness for the retry jitter. */
  random?: () => number;
  /** Told once per pod and message when an admission webhook denies an eviction (retried all the same). */
  onDenied?: (pod: string, cause: string) => void;
}

const DEFAULT_PARALLELISM = 5;
const DEFAULT_RETRY_DELAY_MS = 5000;

/** A Drainer with `kubectl drain --ignore-daemonsets --delete-emptydir-data --force` semantics. */
export function createDrainer(kube: Kube, opts: DrainerOptions): Drainer {
  return {
    async drain(node: string, drainOpts: DrainOptions): Promise<DrainResult> {
      const logger = opts.logger.child({ node });
      const ctx: EvictionContext = {
        kube,
        clock: opts.clock,
        logger,
        gracePeriodSeconds: opts.gracePeriodSeconds,
        skipWaitForDeleteTimeoutSeconds: opts.skipWaitForDeleteTimeoutSeconds,
        retryDelayMs: opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
        ...(drainOpts.deadline ? { deadline: drainOpts.deadline } : {}),
        ...(drainOpts.signal ? { signal: drainOpts.signal } : {}),
        ...(opts.random ? { random: opts.random } : {}),
        ...(opts.onDenied ? { onDenied: onceEach(opts.onDenied) } : {}),
      };
      const pods = await listUntilStopped(ctx, node, opts.podSelector);
      if (typeof pods === 'string') {
        logger.warn({ reason: pods }, 'drain failed');
        return { ok: false, reason: pods, blockingPods: [], permanent: false };
      }
      const selection = selectPodsToEvict(pods, opts.clock.now(), opts.skipWaitForDeleteTimeoutSeconds);
      for (const [reason, keys] of Object.entries(selection.skipped)) {
        const level = reason === 'mirror' ? 'debug' : 'info';
        logger[level]({ pods: keys }, SKIP_TEXT[reason as SkipReason]);
      }
      for (const [warning, keys] of Object.entries(selection.warnings)) {
        logger.warn({ pods: keys }, WARNING_TEXT[warning as EvictWarning]);
      }
      logger.info(
        { pods: selection.evict.length, parallelism: opts.parallelism ?? DEFAULT_PARALLELISM },
        'draining node',
      );

      const outcomes = await runCapped(selection.evict, opts.parallelism ?? DEFAULT_PARALLELISM, (pod) =>
        evictPod(ctx, pod),
      );
      const end: DrainEnd = drainOpts.signal?.aborted
        ? 'aborted'
        : ctx.deadline !== undefined && opts.clock.now() >= ctx.deadline
          ? 'timeout'
          : 'settled';
      const result = drainResult(outcomes, end);
      if (result.ok) logger.info({ evicted: result.evicted }, 'drain done');
      else logger.warn({ reason: result.reason, permanent: result.permanent }, 'drain failed');
      return result;
    },
  };
}

/** A drain tells of each pod's denial once per distinct message, not at every retry. */
function onceEach(tell: (pod: string, cause: string) => void): (pod: string, cause: string) => void {
  const told = new Set<string>();
  return (pod, cause) => {
    const key = `${pod}\n${cause}`;
    if (told.has(key)) return;
    told.add(key);
    tell(pod, cause);
  };
}

/** Lists the node's pods, retrying API errors until the deadline; a string is the failure reason. */
async function listUntilStopped(
  ctx: EvictionContext,
  node: string,
  podSelector: string,
): Promise<V1Pod[] | string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listPodsOnNode(ctx.kube, node, podSelector);
    } catch (err) {
      const cause = statusMessage(err);
      const delay = errorRetryDelayMs(attempt, ctx.retryDelayMs, ctx.random);
      const left = ctx.deadline
        ? ctx.deadline.getTime() - ctx.clock.now().getTime()
        : Number.POSITIVE_INFINITY;
      if (ctx.signal?.aborted || left <= 0) return `cannot list the pods on node ${node}: ${cause}`;
      ctx.logger.warn({ cause, retryInMs: delay }, 'cannot list the pods on the node, retrying');
      await ctx.clock.sleep(Math.min(delay, left), ctx.signal);
    }
  }
}
