/**
 * `kured-ts pause` and `resume`, kept pure: the lock value that stops new reboots in a way kured's
 * own agents respect too (kured's manual lock, in the lock's current form), and the record beside
 * it (who, when, why) that lets `resume` remove exactly what `pause` wrote and nothing else.
 *
 *   single form: {"nodeID":"manual","metadata":{"unschedulable":false},"created":"<t>","TTL":0}
 *   multi form:  {"maxOwners":N,"locks":[<holders still finishing>..., <manual entry> x N]}
 *
 * N manual entries because kured's multi-owner agents take a slot whenever the list is shorter
 * than maxOwners: only a list that stays full after every holder has left stops them.
 * A single-form lock held by a node cannot carry a second entry: the record then says "pending",
 * every kured-ts agent honours the record at once, and the holder's release writes the manual
 * lock in place of removing it (src/lock/store.ts).
 */
import { type LockEntry, type LockValue, liveEntries, MANUAL_NODE_ID, orderEntry } from './codec.ts';

/** On the lock's DaemonSet, beside the lock annotation. */
export const PAUSE_ANNOTATION = 'kured-ts.dev/pause';

export interface PauseRecord {
  /** Who paused (the API server's name for the caller). */
  by: string;
  /** When (RFC 3339). */
  at: string;
  reason: string;
  /** The `created` of the manual entries this pause wrote: how resume recognises them. */
  created: string;
  /** written: the manual lock is in place; pending: written at the holder's release; foreign: someone else's manual lock was already there. */
  lock: 'written' | 'pending' | 'foreign';
}

export type ParsedPause = PauseRecord | { malformed: string } | undefined;

export function parsePause(raw: string | undefined): ParsedPause {
  if (raw === undefined) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<PauseRecord>;
    if (
      typeof r.by === 'string' &&
      typeof r.at === 'string' &&
      typeof r.created === 'string' &&
      (r.lock === 'written' || r.lock === 'pending' || r.lock === 'foreign')
    ) {
      return {
        by: r.by,
        at: r.at,
        reason: typeof r.reason === 'string' ? r.reason : '',
        created: r.created,
        lock: r.lock,
      };
    }
  } catch {
    // fall through
  }
  return { malformed: `unreadable ${PAUSE_ANNOTATION} annotation` };
}

export function isPaused(p: ParsedPause): p is PauseRecord | { malformed: string } {
  return p !== undefined;
}

/** A pause record in words; with `now`, its age (the agents leave it out, so their log line stays put). */
export function describePause(p: PauseRecord | { malformed: string }, now?: Date): string {
  if ('malformed' in p) return `paused (${p.malformed})`;
  const when = now ? ` ${age(now.getTime() - Date.parse(p.at))} ago` : ` at ${p.at}`;
  return `paused by ${p.by}${when}${p.reason ? `: ${p.reason}` : ''}`;
}

/** kured's manual entry, in kured's field order. */
export function manualEntry(created: string): LockEntry {
  return { nodeID: MANUAL_NODE_ID, metadata: { unschedulable: false }, created, TTL: 0 };
}

export type PauseWrite = { annotation: string | false; lock: PauseRecord['lock'] };

/**
 * The lock value that stops new reboots, from the current one. `concurrency` chooses the form
 * only when there is no lock yet. Throws on a malformed lock (it is never overwritten).
 */
export function pausedLock(value: LockValue, concurrency: number, created: string, now: Date): PauseWrite {
  const mark = manualEntry(created);
  switch (value.form) {
    case 'malformed':
      throw new Error(`the lock annotation is malformed (${value.error}); fix or remove it first`);
    case 'manual':
      return {
        annotation: false,
        lock: value.marks.some((m) => m.created === created) ? 'written' : 'foreign',
      };
    case 'none':
      return concurrency <= 1
        ? { annotation: JSON.stringify(mark), lock: 'written' }
        : { annotation: multi(concurrency, [], mark), lock: 'written' };
    case 'single':
      return liveEntries(value, now).length === 0
        ? { annotation: JSON.stringify(mark), lock: 'written' }
        : { annotation: false, lock: 'pending' };
    case 'multi':
      return { annotation: multi(value.maxOwners, liveEntries(value, now), mark), lock: 'written' };
  }
}

function multi(maxOwners: number, holders: LockEntry[], mark: LockEntry): string {
  const marks = Array.from({ length: Math.max(1, maxOwners) }, () => mark);
  return JSON.stringify({ maxOwners, locks: [...holders, ...marks].map(orderEntry) });
}

/**
 * The lock value once this pause's manual entries are gone: undefined removes the annotation,
 * false leaves it alone (nothing of ours in it).
 */
export function resumedLock(value: LockValue, record: PauseRecord, now: Date): string | undefined | false {
  if (value.form !== 'manual' || record.lock === 'foreign') return false;
  const ours = (e: LockEntry) => e.nodeID === MANUAL_NODE_ID && e.created === record.created;
  if (!value.marks.some(ours)) return false;
  if (!value.multi) return undefined;
  const rest = value.multi.locks.filter(
    (e) =>
      !ours(e) && (e.nodeID === MANUAL_NODE_ID || liveEntries({ form: 'single', entry: e }, now).length > 0),
  );
  if (rest.length === 0) return undefined;
  return JSON.stringify({ maxOwners: value.multi.maxOwners, locks: rest.map(orderEntry) });
}

/** The single-form manual lock a releasing holder writes for a pending pause. */
export function pendingManualLock(record: PauseRecord): string {
  return JSON.stringify(manualEntry(record.created));
}

/** 3s, 5m, 2h, 3d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
