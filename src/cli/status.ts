/**
 * `kured-ts status`: one answer to "why is nothing happening?", for an operator with kubectl's
 * credentials. Shows who holds the lock, and per node its cordon state, its reboot cycle and the
 * last thing its agent said (its latest Kubernetes Event).
 */

import type { EventsV1Event, V1DaemonSet, V1Node } from '@kubernetes/client-node';
import { CYCLE_ANNOTATION, parseCycle } from '../agent/cycle.ts';
import type { Config } from '../config/config.ts';
import { connect, paths } from '../kube/client.ts';
import { viewNode } from '../kube/node.ts';
import { describeHolders, liveEntries, parseLock } from '../lock/codec.ts';
import { activeZones, parseQueue, QUEUE_ANNOTATION, WAITING_LABEL, zoneName } from '../lock/queue.ts';

export async function status(config: Config, out: (line: string) => void): Promise<void> {
  const kube = connect();
  const now = new Date();
  const ds = await kube.get<V1DaemonSet>(paths.daemonSet(config.dsNamespace, config.dsName));
  const lock = parseLock(ds.metadata?.annotations?.[config.lockAnnotation]);
  const queue = parseQueue(ds.metadata?.annotations?.[QUEUE_ANNOTATION]);
  const live = liveEntries(lock, now);
  const since = live
    .map(
      (e) =>
        `${e.nodeID} since ${e.created}${e.nodeID in queue.zones ? ` in ${zoneName(queue.zones[e.nodeID]!)}` : ''}`,
    )
    .join(', ');
  out(
    `lock ${config.lockAnnotation} on ${config.dsNamespace}/${config.dsName}: ${describeHolders(lock, now)}${since ? ` (${since})` : ''}`,
  );
  if (config.maxZones > 0 || live.length > 0) {
    const zones = [
      ...activeZones(
        live.map((e) => e.nodeID),
        queue.zones,
      ),
    ].map(zoneName);
    const rule = config.maxZones > 0 ? `at most ${config.maxZones} zone(s) at once` : 'no zone rule';
    out(`active zone(s): ${zones.join(', ') || 'none'} (${rule})`);
  }
  if (queue.next.length > 0) out(`next in line: ${queue.next.join(', ')}`);

  const nodes = (await kube.list<V1Node>(paths.nodes)).items.map(viewNode);
  const events = (await kube.list<EventsV1Event>(paths.events('default'))).items
    .filter((e) => e.reportingController === 'kured-ts.dev/agent')
    .sort((a, b) => eventMs(a.eventTime) - eventMs(b.eventTime));
  const lastEvent = new Map(events.map((e) => [e.regarding?.name ?? '', `${e.reason}: ${e.note ?? ''}`]));
  const cycles = nodes.map((n) => ({ node: n, cycle: parseCycle(n.annotations[CYCLE_ANNOTATION], now) }));
  for (const { node, cycle } of cycles) {
    if (cycle?.phase === 'settling' && cycle.halted) out(haltedLine(node.name, cycle.halted));
  }
  const rows = cycles.map(({ node: n, cycle }) => {
    const waiting = n.labels[WAITING_LABEL];
    return [
      n.name,
      zoneName(n.labels[config.zoneLabel] ?? ''),
      `${n.ready ? 'Ready' : 'NotReady'}${n.unschedulable ? ',SchedulingDisabled' : ''}`,
      cycle?.phase === 'settling' && cycle.halted ? 'halted' : (cycle?.phase ?? (waiting ? 'waiting' : '-')),
      cycle?.since ?? (waiting ? new Date(Number(waiting)).toISOString() : '-'),
      (lastEvent.get(n.name) ?? '-').slice(0, 100),
    ];
  });
  const header = ['NODE', 'ZONE', 'STATUS', 'CYCLE', 'SINCE', 'LAST EVENT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows])
    out(r.map((v, i) => (i < r.length - 1 ? v.padEnd(widths[i]!) : v)).join('  '));
}

/** The line an operator looks for first: which node stopped the rollout, and why. */
export function haltedLine(node: string, reason: string): string {
  return `rollout halted: ${node} did not come back healthy: ${reason} (it keeps the lock until it is healthy, or until its lock entry is released)`;
}

/** eventTime comes back as a Date or as a MicroTime string, depending on the client's serializer. */
function eventMs(t: unknown): number {
  return t instanceof Date ? t.getTime() : Date.parse(String(t));
}
