/**
 * kured's lock value, read and written byte-compatibly: the annotation on kured's DaemonSet.
 *
 *   single (--concurrency=1): {"nodeID":"n1","metadata":{"unschedulable":false},"created":"<RFC3339Nano>","TTL":0}
 *   multi  (--concurrency>1): {"maxOwners":2,"locks":[<single>, ...]}
 *
 * TTL is a Go time.Duration: integer nanoseconds. An entry expires once now - created >= TTL (TTL > 0).
 * This file is pure: parse, decide who holds the lock, and compute the value after acquire/release.
 */

import { activeZones, zoneAllows, zoneName } from './queue.ts';

export interface LockEntry {
  nodeID: string;
  metadata: { unschedulable: boolean };
  created: string;
  TTL: number;
}

/** What the annotation says, once parsed. */
export type LockValue =
  | { form: 'none' }
  | { form: 'single'; entry: LockEntry }
  | { form: 'multi'; maxOwners: number; entries: LockEntry[] }
  /**
   * `{"nodeID":"manual"}` (or a manual entry among the multi form's locks): an operator stopped all
   * reboots, whatever --concurrency says. `entries` are holders still finishing their cycle;
   * `locks` is the multi form's whole list in order (manual entries included), kept for rewriting.
   */
  | {
      form: 'manual';
      entries: LockEntry[];
      /** The manual entries themselves (their `created` tells whose stop it is). */
      marks: LockEntry[];
      multi?: { maxOwners: number; locks: LockEntry[] };
    }
  /** Unreadable: treated as held, never overwritten. */
  | { form: 'malformed'; error: string };

export const MANUAL_NODE_ID = 'manual';
const NANOS_PER_MS = 1_000_000;

export function parseLock(raw: string | undefined): LockValue {
  if (raw === undefined) return { form: 'none' };
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    return { form: 'malformed', error: `not JSON (${(e as Error).message})` };
  }
  if (!isObject(doc)) return { form: 'malformed', error: 'not a JSON object' };
  if ('locks' in doc || 'maxOwners' in doc) return parseMulti(doc);
  if (typeof doc.nodeID !== 'string')
    return { form: 'malformed', error: 'no "nodeID" string and no "locks" list' };
  const entry = parseEntry(doc);
  if (doc.nodeID === MANUAL_NODE_ID)
    return { form: 'manual', entries: [], marks: typeof entry === 'string' ? [] : [entry] };
  return typeof entry === 'string' ? { form: 'malformed', error: entry } : { form: 'single', entry };
}

function parseMulti(doc: Record<string, unknown>): LockValue {
  const { maxOwners, locks } = doc;
  if (typeof maxOwners !== 'number' || !Number.isInteger(maxOwners)) {
    return { form: 'malformed', error: '"maxOwners" is not an integer' };
  }
  if (locks !== null && locks !== undefined && !Array.isArray(locks)) {
    return { form: 'malformed', error: '"locks" is not a list' };
  }
  const entries: LockEntry[] = [];
  let manual = false;
  for (const item of (locks as unknown[] | null | undefined) ?? []) {
    if (!isObject(item)) return { form: 'malformed', error: 'an entry of "locks" is not an object' };
    const entry = parseEntry(item);
    if (typeof entry === 'string') return { form: 'malformed', error: entry };
    if (entry.nodeID === MANUAL_NODE_ID) manual = true;
    entries.push(entry);
  }
  if (manual) {
    const holders = entries.filter((e) => e.nodeID !== MANUAL_NODE_ID);
    const marks = entries.filter((e) => e.nodeID === MANUAL_NODE_ID);
    return { form: 'manual', entries: holders, marks, multi: { maxOwners, locks: entries } };
  }
  return { form: 'multi', maxOwners, entries };
}

/** An entry, or the reason it is unreadable. Missing created/TTL are legacy values: never expire. */
function parseEntry(doc: Record<string, unknown>): LockEntry | string {
  if (typeof doc.nodeID !== 'string') return 'an entry has no "nodeID" string';
  const meta = isObject(doc.metadata) ? doc.metadata : {};
  const created = typeof doc.created === 'string' ? doc.created : '0001-01-01T00:00:00Z';
  if (Number.isNaN(Date.parse(created))) return `entry for ${doc.nodeID} has an unreadable "created" time`;
  const ttl = doc.TTL ?? 0;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl))
    return `entry for ${doc.nodeID} has a non-numeric "TTL"`;
  return { nodeID: doc.nodeID, metadata: { unschedulable: meta.unschedulable === true }, created, TTL: ttl };
}

export function isExpired(entry: LockEntry, now: Date): boolean {
  return entry.TTL > 0 && now.getTime() - Date.parse(entry.created) >= entry.TTL / NANOS_PER_MS;
}

/** The entries that still count, in either form (under a manual stop: the holders finishing). */
export function liveEntries(value: LockValue, now: Date): LockEntry[] {
  if (value.form === 'single') return isExpired(value.entry, now) ? [] : [value.entry];
  if (value.form === 'multi' || value.form === 'manual')
    return value.entries.filter((e) => !isExpired(e, now));
  return [];
}

/** Who holds the lock, in words for logs and Events. */
export function describeHolders(value: LockValue, now: Date): string {
  if (value.form === 'manual') return 'manual (reboots disabled by an operator)';
  if (value.form === 'malformed') return `unknown (malformed lock annotation: ${value.error})`;
  const live = liveEntries(value, now);
  return live.length ? live.map((e) => e.nodeID).join(',') : 'nobody';
}

/**
 * A node in its reboot cycle that the lock does not name: its slot was taken in a lock DaemonSet
 * since deleted and created again (src/core/cycle.ts, IN_CYCLE_LABEL). It still holds a slot.
 */
export interface Forgotten {
  nodeID: string;
  /** Was it unschedulable before its cycle (its entry's metadata)? */
  unschedulable: boolean;
  zone: string;
}

export interface AcquireRequest {
  nodeID: string;
  unschedulable: boolean;
  concurrency: number;
  ttlMs: number;
  now: Date;
  /** The zone rule (--max-zones > 0): our zone and the holders' recorded zones (the forgotten's included). */
  zone?: { mine: string; holders: Record<string, string>; maxZones: number };
  /** Holders the lock forgot: they count, and are put back in the lock by the same write. */
  forgotten?: readonly Forgotten[];
}
export type AcquireOutcome =
  | { ok: true; annotation: string; entry: LockEntry }
  /** `annotation`: the lock with the forgotten holders put back, to be written all the same. */
  | { ok: false; reason: string; annotation?: string };

/**
 * The annotation after `nodeID` takes a slot, or why it cannot. Expired entries are dropped, the
 * form follows --concurrency (so switching between 1 and N never deadlocks), and an entry we
 * already hold is kept as is (its `unschedulable` is the truth from before we cordoned).
 */
export function acquire(value: LockValue, req: AcquireRequest): AcquireOutcome {
  if (value.form === 'manual' || value.form === 'malformed') {
    return { ok: false, reason: `lock held by ${describeHolders(value, req.now)}` };
  }
  const back = missing(value, req.forgotten ?? [], req).filter((e) => e.nodeID !== req.nodeID);
  const live = [...liveEntries(value, req.now), ...back];
  const mine = live.find((e) => e.nodeID === req.nodeID);
  if (mine) return { ok: true, annotation: serialize(live, req.concurrency), entry: mine };
  const putBack = back.length > 0 ? { annotation: serialize(live, req.concurrency) } : {};
  if (live.length >= req.concurrency) {
    return { ok: false, reason: `lock held by ${live.map((e) => e.nodeID).join(',')}`, ...putBack };
  }
  if (req.zone) {
    const active = activeZones(
      live.map((e) => e.nodeID),
      req.zone.holders,
    );
    if (!zoneAllows(req.zone.mine, active, req.zone.maxZones)) {
      const zones = [...active].map(zoneName).join(', ');
      return {
        ok: false,
        reason: `lock held in ${zones}; ${zoneName(req.zone.mine)} waits its turn`,
        ...putBack,
      };
    }
  }
  const entry = newEntry(req.nodeID, req.unschedulable, req);
  return { ok: true, annotation: serialize([...live, entry], req.concurrency), entry };
}

/**
 * The lock with these forgotten holders put back, whatever --concurrency says (they are disrupted
 * already); false when there is nothing to add, or the lock is an operator's stop or unreadable.
 */
export function putBack(
  value: LockValue,
  forgotten: readonly Forgotten[],
  req: { concurrency: number; ttlMs: number; now: Date },
): string | false {
  if (value.form === 'manual' || value.form === 'malformed') return false;
  const back = missing(value, forgotten, req);
  return back.length > 0 ? serialize([...liveEntries(value, req.now), ...back], req.concurrency) : false;
}

/** Entries for the forgotten holders the lock does not show. */
function missing(
  value: LockValue,
  forgotten: readonly Forgotten[],
  req: { ttlMs: number; now: Date },
): LockEntry[] {
  const live = liveEntries(value, req.now);
  return forgotten
    .filter((f) => !live.some((e) => e.nodeID === f.nodeID))
    .map((f) => newEntry(f.nodeID, f.unschedulable, req));
}

function newEntry(nodeID: string, unschedulable: boolean, req: { ttlMs: number; now: Date }): LockEntry {
  return {
    nodeID,
    metadata: { unschedulable },
    created: goTime(req.now),
    TTL: Math.round(req.ttlMs) * NANOS_PER_MS,
  };
}

/**
 * The annotation after `nodeID` lets go: undefined means remove it (nobody left), false leaves it
 * as it is. A manual stop is never removed by a release: only the holder's own entry goes.
 */
export function release(
  value: LockValue,
  nodeID: string,
  concurrency: number,
  now: Date,
): string | undefined | false {
  if (value.form === 'manual') {
    if (!value.multi || !value.entries.some((e) => e.nodeID === nodeID)) return false;
    const locks = value.multi.locks.filter(
      (e) => e.nodeID === MANUAL_NODE_ID || (e.nodeID !== nodeID && !isExpired(e, now)),
    );
    return JSON.stringify({ maxOwners: value.multi.maxOwners, locks: locks.map(orderEntry) });
  }
  if (value.form === 'malformed') return false;
  const rest = liveEntries(value, now).filter((e) => e.nodeID !== nodeID);
  return rest.length ? serialize(rest, concurrency) : undefined;
}

export function serialize(entries: LockEntry[], concurrency: number): string {
  if (concurrency <= 1 && entries.length === 1) return JSON.stringify(orderEntry(entries[0]!));
  return JSON.stringify({ maxOwners: Math.max(concurrency, entries.length), locks: entries.map(orderEntry) });
}

/** kured's field order, so a diff against a kured-written value is empty. */
export function orderEntry(e: LockEntry): LockEntry {
  return {
    nodeID: e.nodeID,
    metadata: { unschedulable: e.metadata.unschedulable },
    created: e.created,
    TTL: e.TTL,
  };
}

/** RFC3339Nano as Go prints it in UTC: trailing zeros of the fraction trimmed. */
export function goTime(d: Date): string {
  return d.toISOString().replace(/\.?0+Z$/, 'Z');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
