/**
 * `kured-ts status`: one answer to "why is nothing happening?", for an operator with kubectl's
 * credentials. Shows who holds the lock (and a pause, with its reason and age), and per node its
 * cordon state, its reboot cycle and the last thing its agent said (its latest Kubernetes Event).
 */

import { describeHolders, liveEntries } from '../core/lock/codec.ts';
import { describePause } from '../core/lock/pause.ts';
import { activeZones, parseQueue, QUEUE_ANNOTATION, WAITING_LABEL, zoneName } from '../core/lock/queue.ts';
import { windowFromConfig } from '../gates/index.ts';
import { parseRequest, REQUEST_ANNOTATION } from '../reboot/request.ts';
import type { ClusterFacts } from './cluster.ts';
import type { OperatorClients } from './connect.ts';
import { data, type Format, table } from './output.ts';

export async function status(
  c: OperatorClients,
  facts: ClusterFacts,
  format: Format,
  out: (line: string) => void,
): Promise<void> {
  const { agents: config, now, lock } = facts;
  const events = (await c.events.listNamespacedEvent({ namespace: 'default' })).items
    .filter((e) => e.reportingController === 'kured-ts.dev/agent')
    .sort((a, b) => eventMs(a.eventTime) - eventMs(b.eventTime));
  const lastEvent = new Map(events.map((e) => [e.regarding?.name ?? '', `${e.reason}: ${e.note ?? ''}`]));
  const holders = liveEntries(lock, now);
  const pause = facts.pause ? describePause(facts.pause, now) : undefined;
  const nodes = facts.nodes.map((n) => ({
    node: n.view.name,
    status: `${n.view.ready ? 'Ready' : 'NotReady'}${n.view.unschedulable ? ',SchedulingDisabled' : ''}`,
    zone: zoneName(n.view.labels[config.zoneLabel] ?? ''),
    cycle:
      n.cycle?.phase === 'settling' && n.cycle.halted
        ? 'halted'
        : (n.cycle?.phase ??
          (n.view.labels[WAITING_LABEL]
            ? 'waiting'
            : n.view.annotations[REQUEST_ANNOTATION]
              ? 'requested'
              : undefined)),
    since:
      n.cycle?.since ??
      (n.view.labels[WAITING_LABEL]
        ? new Date(Number(n.view.labels[WAITING_LABEL])).toISOString()
        : undefined),
    rebootNeededSince: n.neededSince,
    lastReboot:
      'records' in n.history ? n.history.records.find((r) => r.outcome === 'rebooted')?.end : undefined,
    lastEvent: lastEvent.get(n.view.name),
    // A `kured-ts reboot` request not done yet: when, why, what it waives (-o json/yaml).
    rebootRequest: parseRequest(n.view.annotations[REQUEST_ANNOTATION]),
  }));
  const window = windowState(config, now);
  if (format === 'json' || format === 'yaml') {
    out(
      data(format, {
        window,
        lock: {
          daemonSet: `${config.dsNamespace}/${config.dsName}`,
          annotation: config.lockAnnotation,
          value: facts.lockRaw ?? null,
          holders,
        },
        pause: facts.pause ?? null,
        nodes,
      }),
    );
    return;
  }
  const since = holders.map((e) => `${e.nodeID} since ${e.created}`).join(', ');
  out(
    `lock ${config.lockAnnotation} on ${config.dsNamespace}/${config.dsName}: ${describeHolders(lock, now)}${since ? ` (${since})` : ''}`,
  );
  if (pause) out(pause);
  out(windowLine(window));
  const queue = parseQueue(facts.lockDaemonSet.metadata?.annotations?.[QUEUE_ANNOTATION]);
  if (config.maxZones > 0 || holders.length > 0) {
    const zones = [
      ...activeZones(
        holders.map((e) => e.nodeID),
        queue.zones,
      ),
    ].map(zoneName);
    const rule = config.maxZones > 0 ? `at most ${config.maxZones} zone(s) at once` : 'no zone rule';
    out(`active zone(s): ${zones.join(', ') || 'none'} (${rule})`);
  }
  if (queue.next.length > 0) out(`next in line: ${queue.next.join(', ')}`);
  for (const n of facts.nodes)
    if (n.cycle?.phase === 'settling' && n.cycle.halted) out(haltedLine(n.view.name, n.cycle.halted));
  const wide = format === 'wide';
  const header = [
    'NODE',
    'ZONE',
    'STATUS',
    'CYCLE',
    'SINCE',
    ...(wide ? ['REBOOT NEEDED', 'LAST REBOOT'] : []),
    'LAST EVENT',
  ];
  const rows = nodes.map((n) => [
    n.node,
    n.zone,
    n.status,
    n.cycle ?? '-',
    n.since ?? '-',
    ...(wide ? [n.rebootNeededSince ?? '-', n.lastReboot ?? '-'] : []),
    (n.lastEvent ?? '-').slice(0, wide ? 300 : 100),
  ]);
  for (const l of table(header, rows)) out(l);
}

/** When a reboot may next start; agents' flags that do not parse are said, not fatal (status must answer). */
function windowState(config: ClusterFacts['agents'], now: Date) {
  try {
    const schedule = windowFromConfig(config);
    const opening = schedule.openingAt(now);
    return {
      open: schedule.contains(now),
      nextOpening: opening?.open.toISOString() ?? null,
      closes: opening?.close?.toISOString() ?? null,
      schedule: schedule.describe(),
    };
  } catch (err) {
    return {
      open: false,
      nextOpening: null,
      closes: null,
      schedule: `unreadable: ${(err as Error).message}`,
    };
  }
}

function windowLine(w: {
  open: boolean;
  nextOpening: string | null;
  closes: string | null;
  schedule: string;
}): string {
  if (w.schedule.startsWith('unreadable: '))
    return `reboot window: the agents' window flags are ${w.schedule}`;
  const until = w.closes ? ` until ${w.closes}` : '';
  if (w.open) return `reboot window: open now${until} (${w.schedule})`;
  if (!w.nextOpening) return `reboot window: closed, never opens in the next two years (${w.schedule})`;
  return `reboot window: closed; next opening ${w.nextOpening}${until} (${w.schedule})`;
}

/** The line an operator looks for first: which node stopped the rollout, and why. */
export function haltedLine(node: string, reason: string): string {
  return `rollout halted: ${node} did not come back healthy: ${reason} (it keeps the lock until it is healthy, or until its lock entry is released)`;
}

/** eventTime comes back as a Date or as a MicroTime string, depending on the client's serializer. */
function eventMs(t: unknown): number {
  return t instanceof Date ? t.getTime() : Date.parse(String(t));
}
