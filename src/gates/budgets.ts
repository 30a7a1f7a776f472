/**
 * The PodDisruptionBudget pre-flight: which of a node's pods its drain could not evict right now
 * (a budget that allows no disruption, or a pod under two budgets, which the Eviction API always
 * refuses). As a gate it runs just before the lock is taken, so a node whose drain would only
 * stall never takes a slot another node could use. `kured-ts plan` shows the same verdicts.
 */
import type { Gate, GateVerdict } from '../core/ports.ts';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface PodInfo {
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

export interface BudgetInfo {
  namespace: string;
  name: string;
  /** undefined (null in the API) selects no pod; {} selects every pod of the namespace. */
  selector: LabelSelector | undefined;
  disruptionsAllowed: number;
}

export interface BudgetBlock {
  /** `namespace/name` */
  pod: string;
  /** `namespace/name` of each budget in the way. */
  budgets: string[];
  why: 'noDisruptionAllowed' | 'twoBudgets';
}

/** Where the pre-flight's facts come from (one adapter against the cluster: ./budgets-kube.ts). */
export interface BudgetSource {
  /** The pods the drain would evict (kubectl drain's filter), running or pending. */
  evictablePods(node: string): Promise<PodInfo[]>;
  budgets(): Promise<BudgetInfo[]>;
}

export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok =
      e.operator === 'In'
        ? inValues
        : e.operator === 'NotIn'
          ? !inValues
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

/** The pods that could not be evicted now, and the budgets in their way. */
export function evictionBlockers(pods: PodInfo[], budgets: BudgetInfo[]): BudgetBlock[] {
  const blocks: BudgetBlock[] = [];
  for (const pod of pods) {
    const mine = budgets.filter(
      (b) => b.namespace === pod.namespace && selectorMatches(b.selector, pod.labels),
    );
    const key = `${pod.namespace}/${pod.name}`;
    const names = mine.map((b) => `${b.namespace}/${b.name}`);
    if (mine.length >= 2) blocks.push({ pod: key, budgets: names, why: 'twoBudgets' });
    else if (mine.length === 1 && mine[0]!.disruptionsAllowed <= 0)
      blocks.push({ pod: key, budgets: names, why: 'noDisruptionAllowed' });
  }
  return blocks;
}

export function describeBlock(b: BudgetBlock): string {
  return b.why === 'twoBudgets'
    ? `pod ${b.pod} is under two budgets (${b.budgets.join(', ')}), which the Eviction API refuses`
    : `pod ${b.pod}: budget ${b.budgets[0]} allows 0 disruptions`;
}

export function budgetsReason(blocks: BudgetBlock[]): string {
  const shown = blocks.slice(0, 5).map(describeBlock).join('; ');
  const more = blocks.length > 5 ? ` and ${blocks.length - 5} more` : '';
  return `the drain would be blocked: ${shown}${more}`;
}

/** Thrown by a BudgetSource when the agent may not list budgets (403). */
export class BudgetsForbidden extends Error {}

/**
 * The pre-flight as a gate, asked only at this node's turn to take the lock (`beforeLock`). Without
 * the right to list budgets it stays open: the caller warned once at start-up.
 */
export function budgetsGate(source: BudgetSource, node: string): Gate {
  return {
    name: 'budgets',
    beforeLock: true,
    async check(): Promise<GateVerdict> {
      let budgets: BudgetInfo[];
      try {
        budgets = await source.budgets();
      } catch (err) {
        if (err instanceof BudgetsForbidden) return { open: true };
        throw err;
      }
      if (budgets.length === 0) return { open: true };
      const blocks = evictionBlockers(await source.evictablePods(node), budgets);
      return blocks.length ? { open: false, reason: budgetsReason(blocks) } : { open: true };
    },
  };
}
