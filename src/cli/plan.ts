/**
 * `kured-ts plan`: a dry run. Reads the cluster and writes nothing: the nodes that need a reboot in
 * the order the agents would take them, each gate's state now (window, alerts, blocking pods), the
 * budget pre-flight per node, and an estimated duration from the recorded history. The exit code
 * says whether the rollout could proceed (0) or something blocks it (2), so it can gate a pipeline.
 */

import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { describeHolders, liveEntries } from '../core/lock/codec.ts';
import { describePause } from '../core/lock/pause.ts';
import { WAITING_LABEL } from '../core/lock/queue.ts';
import type { Gate } from '../core/ports.ts';
import {
  type BudgetBlock,
  type BudgetInfo,
  BudgetsForbidden,
  describeBlock,
  evictionBlockers,
} from '../gates/budgets.ts';
import { kubeBudgetSource } from '../gates/budgets-kube.ts';
import { checkGate, createGates, windowFromConfig } from '../gates/index.ts';
import { podsGate } from '../gates/pods.ts';
import type { ClusterFacts, NodeFacts } from './cluster.ts';
import type { OperatorClients } from './connect.ts';
import { rolloutOrder } from './order.ts';
import { data, duration, type Format, table } from './output.ts';
import { fitInWindows, type WindowFit } from './window-fit.ts';

export const EXIT_BLOCKED = 2;

/** What an open gate means, in words. */
const OPEN_DETAIL: Record<string, string> = {
  prometheus: 'no alert firing',
  promql: 'no blocking query returns anything',
  alertmanager: 'no firing alert in Alertmanager',
  pods: 'no blocking pod',
};

export interface GateState {
  gate: string;
  open: boolean;
  detail: string;
}

export interface PlannedNode {
  node: string;
  wave: number;
  state: string;
  neededSince: string | undefined;
  gates: GateState[];
  budgets: BudgetBlock[];
  /** Seconds, from this node's recorded cycles (else the cluster's). */
  estimateSeconds: number | undefined;
}

export interface Plan {
  lock: string;
  pause: string | undefined;
  concurrency: number;
  gates: GateState[];
  nodes: PlannedNode[];
  blockers: string[];
  canProceed: boolean;
  estimateSeconds: number | undefined;
  /** When the window next opens, and whether the pending waves fit in that opening. */
  window: WindowFit;
}

export async function makePlan(
  c: OperatorClients,
  facts: ClusterFacts,
  prometheusUrl?: string,
  /** Gates a `kured-ts reboot --dry-run` request waives (window, prometheus): shown, not blocking. */
  waived: string[] = [],
): Promise<Plan> {
  const { agents, now } = facts;
  const config: Config = { ...agents, ...(prometheusUrl ? { prometheusUrl } : {}) };
  const blockers: string[] = [];

  // Cluster-wide: the pause, the lock itself, the window and the alerts.
  const pause = facts.pause ? describePause(facts.pause, now) : undefined;
  if (pause) blockers.push(pause);
  if (facts.lock.form === 'manual' && !facts.pause)
    blockers.push('the lock holds a manual stop ({"nodeID":"manual"})');
  if (facts.lock.form === 'malformed')
    blockers.push(`the lock annotation is malformed (${facts.lock.error})`);
  const clusterGates = createGates({ ...config, blockingPodSelector: [], budgetPreflight: false }, {});
  const gates = await Promise.all(clusterGates.map((g) => stateOf(g, now, config)));
  for (const g of gates) {
    if (g.open) continue;
    if (waived.includes(g.gate)) g.detail += ' (waived by the reboot request)';
    else blockers.push(`${g.gate}: ${g.detail}`);
  }

  // Per node: blocking pods and the budget pre-flight.
  const holders = new Set(liveEntries(facts.lock, now).map((e) => e.nodeID));
  const needing = facts.nodes.filter(
    (n) => n.neededSince !== undefined || n.cycle !== undefined || holders.has(n.view.name),
  );
  const source = kubeBudgetSource(c.kube, {
    podSelector: config.drainPodSelector,
    skipWaitForDeleteTimeout: config.skipWaitForDeleteTimeout,
  });
  const budgets = needing.length > 0 ? await listBudgets(source) : [];
  const selectors = config.blockingPodSelector.filter((s) => s.trim() !== '');
  const perNode = await Promise.all(
    needing.map(async (n) => {
      const name = n.view.name;
      const nodeGates = selectors.length
        ? [await stateOf(podsGate(c.kube, name, selectors), now, config)]
        : [];
      const inCycle = holders.has(name) || (n.cycle !== undefined && n.cycle.phase !== 'backoff');
      const blocks =
        inCycle || !config.budgetPreflight ? [] : evictionBlockers(await source.evictablePods(name), budgets);
      return { n, nodeGates, blocks, inCycle };
    }),
  );
  const estimates = estimator(facts.nodes);
  const order = rolloutOrder(
    perNode.map(({ n, nodeGates, blocks, inCycle }) => ({
      name: n.view.name,
      holder: inCycle,
      // The agents' order is by when each started waiting for the lock (its label), else by need.
      since:
        Number(n.view.labels[WAITING_LABEL]) ||
        Date.parse(n.neededSince ?? n.cycle?.started ?? n.cycle?.since ?? now.toISOString()),
      zone: n.view.labels[config.zoneLabel] ?? '',
      blocked: nodeGates.some((g) => !g.open) || blocks.length > 0,
    })),
    { concurrency: config.concurrency, maxZones: config.maxZones },
  );
  const nodes: PlannedNode[] = order.map(({ name, wave }) => {
    const { n, nodeGates, blocks, inCycle } = perNode.find((p) => p.n.view.name === name)!;
    for (const g of nodeGates) if (!g.open) blockers.push(`${name}: ${g.detail}`);
    for (const b of blocks) blockers.push(`${name}: ${describeBlock(b)}`);
    return {
      node: name,
      wave,
      state: inCycle
        ? `in progress (${n.cycle?.phase ?? 'holds the lock'})`
        : stateWord(n, nodeGates, blocks),
      neededSince: n.neededSince,
      gates: nodeGates,
      budgets: blocks,
      estimateSeconds: estimates(name),
    };
  });
  const waves = new Map<number, number>();
  for (const n of nodes) waves.set(n.wave, Math.max(waves.get(n.wave) ?? 0, n.estimateSeconds ?? Number.NaN));
  const total = [...waves.values()].reduce((a, b) => a + b, 0);
  const waveSeconds = [...waves.entries()].sort(([a], [b]) => a - b).map(([, seconds]) => seconds);
  return {
    lock: `${config.lockAnnotation} on ${config.dsNamespace}/${config.dsName}: ${describeHolders(facts.lock, now)}`,
    pause,
    concurrency: config.concurrency,
    gates,
    nodes,
    blockers,
    canProceed: blockers.length === 0,
    estimateSeconds: nodes.length === 0 ? 0 : Number.isNaN(total) ? undefined : total,
    window: fitInWindows(windowFromConfig(config), now, waveSeconds),
  };
}

function stateWord(n: NodeFacts, gates: GateState[], blocks: BudgetBlock[]): string {
  if (gates.some((g) => !g.open) || blocks.length > 0) return 'blocked';
  return n.cycle?.phase === 'backoff' ? 'backing off' : 'waiting';
}

async function listBudgets(source: ReturnType<typeof kubeBudgetSource>): Promise<BudgetInfo[]> {
  try {
    return await source.budgets();
  } catch (err) {
    if (!(err instanceof BudgetsForbidden)) throw err;
    throw new ConfigError(
      `cannot list PodDisruptionBudgets (${err.message}): the budget pre-flight of plan needs list on policy/poddisruptionbudgets in all namespaces`,
    );
  }
}

/** A gate's state now, in words: a closed window says when it opens. */
async function stateOf(gate: Gate, now: Date, config: Config): Promise<GateState> {
  const v = await checkGate(gate, now);
  if (v.open) {
    const detail =
      gate.name === 'window'
        ? `open (${windowFromConfig(config).describe()})`
        : (OPEN_DETAIL[gate.name] ?? 'open');
    return { gate: gate.name, open: true, detail };
  }
  const opens = v.retryAt ? `; opens ${v.retryAt.toISOString()}` : '';
  return { gate: gate.name, open: false, detail: `${v.reason}${opens}` };
}

/** Estimated seconds for a node: the mean of its completed cycles, else the cluster's mean. */
function estimator(nodes: NodeFacts[]): (node: string) => number | undefined {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
  const totals = new Map<string, number[]>();
  for (const n of nodes) {
    if (!('records' in n.history)) continue;
    totals.set(
      n.view.name,
      n.history.records
        .filter((r) => r.outcome === 'rebooted')
        .map((r) => (Date.parse(r.end) - Date.parse(r.start)) / 1000),
    );
  }
  const all = mean([...totals.values()].flat());
  return (node) => mean(totals.get(node) ?? []) ?? all;
}

export function printPlan(plan: Plan, format: Format, out: (line: string) => void): number {
  const code = plan.canProceed ? 0 : EXIT_BLOCKED;
  if (format === 'json' || format === 'yaml') {
    out(data(format, plan));
    return code;
  }
  out(`lock ${plan.lock}`);
  if (plan.pause) out(plan.pause);
  for (const g of plan.gates) out(`${g.gate}: ${g.open ? '' : 'closed: '}${g.detail}`);
  out(plan.window.summary);
  if (plan.nodes.length === 0) {
    out('no node needs a reboot');
  } else {
    const wide = format === 'wide';
    const rows = plan.nodes.map((n, i) => [
      String(i + 1),
      n.node,
      String(n.wave),
      n.state,
      n.neededSince ?? '-',
      duration(n.estimateSeconds),
      ...(wide ? [n.gates.map((g) => `${g.gate}: ${g.open ? 'open' : 'closed'}`).join(', ') || '-'] : []),
      [...n.gates.filter((g) => !g.open).map((g) => g.detail), ...n.budgets.map(describeBlock)].join('; ') ||
        '-',
    ]);
    const header = [
      '#',
      'NODE',
      'WAVE',
      'STATE',
      'NEEDED SINCE',
      'ESTIMATE',
      ...(wide ? ['GATES'] : []),
      'BLOCKED BY',
    ];
    for (const l of table(header, rows)) out(l);
    out(
      `concurrency ${plan.concurrency}; estimated duration ${duration(plan.estimateSeconds)}${plan.estimateSeconds === undefined ? ' (no recorded reboot yet)' : ''}`,
    );
  }
  out(plan.canProceed ? 'the rollout can proceed' : `blocked: ${plan.blockers.join('; ')}`);
  return code;
}
