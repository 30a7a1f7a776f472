/**
 * The hand-over beside kured's lock: one more annotation on the lock DaemonSet, written in the
 * same patch as the lock itself, which kured ignores (and stays safe with):
 *
 *   kured-ts.dev/lock-queue: {"next":["n7"],"zones":{"n1":"zone-a"}}
 *
 * `next` names the node(s) whose turn it is to take a free slot, so that only they write when
 * one frees up; `zones` records each holder's zone, so the zone rule needs no extra read. Waiting
 * nodes mark themselves with a label (WAITING_LABEL = when they started waiting) and stand in a
 * line kept in order by the API server (src/kube/line.ts); whoever writes the lock names the next
 * ones from the head of that line. Pure: no I/O.
 */

export const QUEUE_ANNOTATION = 'kured-ts.dev/lock-queue';
export const WAITING_LABEL = 'kured-ts.dev/reboot-waiting';
/**
 * On a waiting node's own Node: it has been (or is about to be) named, and so watches the lock.
 * Written by whoever names it, before the names themselves; removed by the node when it takes the
 * lock or leaves the line. Waiting nodes that are not named hold no watch of the lock: the lock's
 * every change would otherwise reach each of them (a thousand on patch day), and their own Node,
 * which they watch anyway, wakes them when their turn is near.
 */
export const TURN_ANNOTATION = 'kured-ts.dev/lock-turn';

/** How long a named node has to take a free slot before anyone waiting may. */
export const NAMED_GRACE_MS = 5000;

export interface Queue {
  next: string[];
  zones: Record<string, string>;
}

/** A node waiting for the lock: since when (epoch ms, its label), and its zone ('' = no zone label). */
export interface Waiter {
  name: string;
  since: number;
  zone: string;
}

export interface ZoneRule {
  concurrency: number;
  /** 0: no zone rule (kured's behaviour). */
  maxZones: number;
}

/** An unreadable value is read as empty: it only speeds the hand-over up, the lock stays the truth. */
export function parseQueue(raw: string | undefined): Queue {
  const empty: Queue = { next: [], zones: {} };
  if (!raw) return empty;
  try {
    const doc = JSON.parse(raw) as Partial<Queue>;
    const next = Array.isArray(doc.next) ? doc.next.filter((n): n is string => typeof n === 'string') : [];
    const zones: Record<string, string> = {};
    if (typeof doc.zones === 'object' && doc.zones !== null) {
      for (const [k, v] of Object.entries(doc.zones)) if (typeof v === 'string') zones[k] = v;
    }
    return { next, zones };
  } catch {
    return empty;
  }
}

/** null removes the annotation (nothing to say). */
export function serializeQueue(q: Queue): string | null {
  if (q.next.length === 0 && Object.keys(q.zones).length === 0) return null;
  return JSON.stringify({ next: q.next, zones: q.zones });
}

/** The zones the holders occupy. A holder whose zone is not recorded (kured's) counts as a zone of its own. */
export function activeZones(holders: readonly string[], zones: Record<string, string>): Set<string> {
  return new Set(holders.map((h) => zones[h] ?? `unknown zone of ${h}`));
}

/** May a node of `zone` join the holders under --max-zones? */
export function zoneAllows(zone: string, active: ReadonlySet<string>, maxZones: number): boolean {
  return maxZones <= 0 || active.has(zone) || active.size < maxZones;
}

/** Waiting order: the active zones first, then first come first served, then by name. */
export function inLine(waiters: readonly Waiter[], active: ReadonlySet<string>): Waiter[] {
  return [...waiters].sort(
    (a, b) =>
      Number(active.has(b.zone)) - Number(active.has(a.zone)) ||
      a.since - b.since ||
      a.name.localeCompare(b.name),
  );
}

/**
 * Who is named next: the first waiters in line that may take the free slots (zone rule included);
 * if none may now, the first in line alone (it takes the next slot and watches the holders).
 */
export function pickNext(
  waiters: readonly Waiter[],
  holders: readonly string[],
  zones: Record<string, string>,
  rule: ZoneRule,
): string[] {
  const active = activeZones(holders, zones);
  // Without the zone rule the line is first come first served alone: ordering by the holders' zone
  // would let a holder's zone-mates pass everyone who waited longer in other zones.
  const line = inLine(
    waiters.filter((w) => !holders.includes(w.name)),
    rule.maxZones > 0 ? active : new Set(),
  );
  let free = rule.concurrency - holders.length;
  const picked: string[] = [];
  for (const w of line) {
    if (free <= 0) break;
    if (!zoneAllows(w.zone, active, rule.maxZones)) continue;
    picked.push(w.name);
    active.add(w.zone);
    free--;
  }
  if (picked.length === 0 && line[0]) picked.push(line[0].name);
  return picked;
}

/**
 * The names to write: pickNext's, and one more, the next in line whatever its zone (a spare). The
 * named watch the lock and the others do not (TURN_ANNOTATION), so the spare is who passes over a
 * named node that died or left, after the grace, when nobody else would notice.
 */
export function nameNext(
  waiters: readonly Waiter[],
  holders: readonly string[],
  zones: Record<string, string>,
  rule: ZoneRule,
): string[] {
  const picked = pickNext(waiters, holders, zones, rule);
  const active = rule.maxZones > 0 ? activeZones(holders, zones) : new Set<string>();
  const spare = inLine(
    waiters.filter((w) => !holders.includes(w.name) && !picked.includes(w.name)),
    active,
  )[0];
  return spare ? [...picked, spare.name] : picked;
}

/**
 * Does this head of the line (in order) decide the names? It does once it holds as many waiters
 * who may take a slot (not holders, in a zone the rule allows now) as slots there are, and the
 * spare: the rest of the line is then not read. Under the zone rule the holders' zones come first
 * among the waiters read, not the whole line.
 */
export function enoughToName(
  line: readonly Waiter[],
  holders: readonly string[],
  zones: Record<string, string>,
  rule: ZoneRule,
): boolean {
  const active = activeZones(holders, zones);
  const may = line.filter((w) => !holders.includes(w.name) && zoneAllows(w.zone, active, rule.maxZones));
  return may.length >= rule.concurrency + 1;
}

/**
 * Of the named, those who let a free slot sit past the grace: in line, and of a zone the rule lets
 * in now. A named node of a zone the rule keeps out is waiting its turn, not letting it pass (it
 * was named when no one of an open zone waited); one no longer in line has nothing to take out.
 */
export function letTurnPass(
  named: readonly string[],
  line: readonly Waiter[],
  holders: readonly string[],
  zones: Record<string, string>,
  rule: ZoneRule,
): string[] {
  const active = activeZones(holders, zones);
  return line
    .filter((w) => named.includes(w.name) && zoneAllows(w.zone, active, rule.maxZones))
    .map((w) => w.name);
}

/** The zones map kept to the live holders (plus one joining), so it never outgrows the lock. */
export function holderZones(
  zones: Record<string, string>,
  holders: readonly string[],
  joining?: { name: string; zone: string },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of holders) if (zones[h] !== undefined) out[h] = zones[h];
  if (joining) out[joining.name] = joining.zone;
  return out;
}

/** Zone names for people: nodes without the zone label share the zone "(no zone)". */
export function zoneName(zone: string): string {
  return zone === '' ? '(no zone)' : zone;
}
