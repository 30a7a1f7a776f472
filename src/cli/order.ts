/**
 * The order in which the agents would take the lock, under the current flags: `plan` prints it.
 * It is the agents' own order (src/core/lock/queue.ts): holders in a cycle first, then the active zones,
 * first come first served (since when the node waits for the lock, or else needs its reboot), then
 * by name; --concurrency and --max-zones group the nodes into waves. A node held back by a gate of
 * its own (blocking pods, a budget) waits and leaves its place to the next, so it is listed last.
 */
import { activeZones, inLine, type Waiter, type ZoneRule, zoneAllows } from '../core/lock/queue.ts';

export interface Candidate extends Waiter {
  /** Holds the lock now (a cycle in progress). */
  holder: boolean;
  /** Something of its own holds it back now. */
  blocked: boolean;
}

export interface Placed {
  name: string;
  /** 1 = the nodes going now or first (holders included). */
  wave: number;
}

export function rolloutOrder(nodes: readonly Candidate[], rule: ZoneRule): Placed[] {
  const per = Math.max(1, rule.concurrency);
  const holders = nodes.filter((c) => c.holder);
  const placed: Placed[] = holders.map((c) => ({ name: c.name, wave: 1 }));
  // Each wave fills its free slots from the line as the agents would, the zone rule included.
  let waiting = inLine(
    nodes.filter((c) => !c.holder && !c.blocked),
    activeZones(
      holders.map((h) => h.name),
      Object.fromEntries(holders.map((h) => [h.name, h.zone])),
    ),
  );
  let wave = 1;
  let active = new Set(holders.map((h) => h.zone));
  let free = per - holders.length;
  while (waiting.length > 0) {
    const next = waiting.find((w) => free > 0 && zoneAllows(w.zone, active, rule.maxZones));
    if (!next) {
      wave++;
      active = new Set();
      free = per;
      waiting = inLine(waiting, active);
      continue;
    }
    placed.push({ name: next.name, wave });
    active.add(next.zone);
    free--;
    waiting = waiting.filter((w) => w !== next);
  }
  const blocked = [...nodes.filter((c) => !c.holder && c.blocked)].sort(
    (a, b) => a.since - b.since || a.name.localeCompare(b.name),
  );
  const last = placed.length > 0 ? wave : 0;
  blocked.forEach((c, i) => {
    placed.push({ name: c.name, wave: last + 1 + Math.floor(i / per) });
  });
  return placed;
}
