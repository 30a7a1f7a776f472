/** `kured-ts history [NODE]`: the reboot cycles each agent recorded on its Node, newest first. */

import { ConfigError } from '../core/errors.ts';
import type { CycleRecord } from '../core/history.ts';
import { type ClusterFacts, findNode, type NodeFacts } from './cluster.ts';
import { data, duration, type Format, table } from './output.ts';

/** Written by the agent's hook reporter (src/agent/companion.ts). */
const HOOK_CALLS = 'kured-ts.dev/hook-calls';

export interface HistoryRow extends CycleRecord {
  node: string;
  totalSeconds: number;
}

/** Rows newest first; unreadable histories as one line each in `problems`. */
export function historyRows(nodes: NodeFacts[]): { rows: HistoryRow[]; problems: string[] } {
  const rows: HistoryRow[] = [];
  const problems: string[] = [];
  for (const n of nodes) {
    if ('error' in n.history) {
      problems.push(`node ${n.view.name}: ${n.history.error}; its agent starts it afresh at the next reboot`);
      continue;
    }
    for (const r of n.history.records)
      rows.push({ node: n.view.name, ...r, totalSeconds: (Date.parse(r.end) - Date.parse(r.start)) / 1000 });
  }
  rows.sort((a, b) => Date.parse(b.start) - Date.parse(a.start));
  return { rows, problems };
}

export function history(
  facts: ClusterFacts,
  node: string | undefined,
  format: Format,
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  const nodes = node ? [findNode(facts, node)] : facts.nodes;
  const { rows, problems } = historyRows(nodes);
  if (node && problems.length) throw new ConfigError(problems[0]!);
  for (const p of problems) err(p);
  if (format === 'json' || format === 'yaml') {
    out(data(format, rows));
    return 0;
  }
  if (rows.length === 0) {
    out(node ? `no reboot recorded for node ${node}` : 'no reboot recorded');
    hookCalls(nodes, out);
    return 0;
  }
  const wide = format === 'wide';
  const header = ['NODE', 'START', 'OUTCOME', 'DRAIN', 'REBOOT', 'TOTAL', ...(wide ? ['END'] : []), 'REASON'];
  const lines = table(
    header,
    rows.map((r) => [
      r.node,
      r.start,
      r.outcome,
      duration(r.drainSeconds),
      duration(r.rebootSeconds),
      duration(r.totalSeconds),
      ...(wide ? [r.end] : []),
      r.reason ?? '',
    ]),
  );
  for (const l of lines) out(l);
  hookCalls(nodes, out);
  return 0;
}

/** The approval hooks' calls each agent recorded on its Node (kured-ts.dev/hook-calls), newest first. */
function hookCalls(nodes: NodeFacts[], out: (line: string) => void): void {
  const calls: string[][] = [];
  for (const n of nodes) {
    let list: unknown;
    try {
      list = JSON.parse(n.view.annotations[HOOK_CALLS] ?? '[]');
    } catch {
      continue;
    }
    if (!Array.isArray(list)) continue;
    for (const c of list as { at?: string; hook?: string; ok?: boolean; detail?: string; cycle?: string }[])
      calls.push([
        n.view.name,
        c.at ?? '',
        c.hook ?? '',
        c.ok ? 'accepted' : 'refused',
        c.cycle ?? '',
        c.detail ?? '',
      ]);
  }
  if (calls.length === 0) return;
  calls.sort((a, b) => Date.parse(b[1]!) - Date.parse(a[1]!));
  out('');
  for (const l of table(['NODE', 'AT', 'HOOK', 'ANSWER', 'CYCLE', 'DETAIL'], calls)) out(l);
}
