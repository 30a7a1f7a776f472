/**
 * The budget pre-flight's only contact with the API server: the node's pods and every
 * PodDisruptionBudget, each one list request, over the agent's Kubernetes client.
 */
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { listPodsOnNode } from '../drain/list-pods.ts';
import { isFinished, selectPodsToEvict } from '../drain/pod-filter.ts';
import { type Kube, paths } from '../kube/client.ts';
import { isForbidden, statusMessage } from '../kube/errors.ts';
import {
  type BudgetInfo,
  type BudgetSource,
  BudgetsForbidden,
  type LabelSelector,
  type PodInfo,
} from './budgets.ts';

export function kubeBudgetSource(
  kube: Kube,
  drain: { podSelector: string; skipWaitForDeleteTimeout: number },
): BudgetSource & { probe(): Promise<string | undefined> } {
  /** Set once the API server said 403: the grant will not appear while the agent runs. */
  let forbidden: string | undefined;
  return {
    /** One small list at start-up: a warning when the grant is missing, else undefined. */
    async probe(): Promise<string | undefined> {
      try {
        await kube.list<V1PodDisruptionBudget>(paths.podDisruptionBudgets, { limit: 1 });
        return undefined;
      } catch (err) {
        if (!isForbidden(err)) return undefined; // anything else is seen again, and reported, when it matters
        forbidden = statusMessage(err);
        return `cannot list PodDisruptionBudgets (${forbidden}): the budget pre-flight is off and drains run as kured's; grant list on policy/poddisruptionbudgets, or set --budget-preflight=false`;
      }
    },
    async evictablePods(node): Promise<PodInfo[]> {
      const pods = await listPodsOnNode(kube, node, drain.podSelector);
      // Finished pods are deleted without asking their budget.
      const { evict } = selectPodsToEvict(pods, new Date(), drain.skipWaitForDeleteTimeout);
      return evict
        .filter((p) => !isFinished(p))
        .map((p) => ({
          namespace: p.metadata?.namespace ?? '',
          name: p.metadata?.name ?? '',
          labels: p.metadata?.labels ?? {},
        }));
    },
    async budgets(): Promise<BudgetInfo[]> {
      if (forbidden) throw new BudgetsForbidden(forbidden);
      try {
        const list = await kube.list<V1PodDisruptionBudget>(paths.podDisruptionBudgets);
        return list.items.map((b) => ({
          namespace: b.metadata?.namespace ?? '',
          name: b.metadata?.name ?? '',
          selector: (b.spec?.selector ?? undefined) as LabelSelector | undefined,
          disruptionsAllowed: b.status?.disruptionsAllowed ?? 0,
        }));
      } catch (err) {
        if (isForbidden(err)) {
          forbidden = statusMessage(err);
          throw new BudgetsForbidden(forbidden);
        }
        throw err;
      }
    },
  };
}
