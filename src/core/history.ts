/**
 * What an agent publishes on its own Node for operator tools (`kured-ts plan`, `history`): since
 * when a reboot is needed, and its last few reboot cycles. Both are written only together with a
 * write the agent makes anyway (the cycle annotation, the reboot-needed transition), so an agent
 * with nothing to do costs nothing. The history is bounded in count and size: it outlives the
 * Events' one-hour life without growing the Node object.
 */
import type { Cycle } from './cycle.ts';

/** RFC 3339 instant since which this node's agent has seen that a reboot is needed. */
export const NEEDED_ANNOTATION = 'kured-ts.dev/reboot-needed';
/** JSON list of the last cycles, newest first. */
export const HISTORY_ANNOTATION = 'kured-ts.dev/reboot-history';

export const MAX_RECORDS = 5;
const MAX_REASON = 200;

export interface CycleRecord {
  /** When the lock was taken (RFC 3339). */
  start: string;
  /** When the cycle ended: lock released, or the attempt given up. */
  end: string;
  outcome: 'rebooted' | 'aborted';
  /** Cordon + evictions, seconds. */
  drainSeconds?: number;
  /** From the reboot request to Ready on a new boot ID, seconds. */
  rebootSeconds?: number;
  /** Why the attempt was given up. */
  reason?: string;
}

export type ParsedHistory = { records: CycleRecord[] } | { error: string };

export function parseHistory(raw: string | undefined): ParsedHistory {
  if (raw === undefined || raw === '') return { records: [] };
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return { error: `the ${HISTORY_ANNOTATION} annotation is not JSON` };
  }
  if (!Array.isArray(doc)) return { error: `the ${HISTORY_ANNOTATION} annotation is not a JSON list` };
  const records: CycleRecord[] = [];
  for (const item of doc) {
    const r = item as Partial<CycleRecord> | null;
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.start !== 'string' ||
      typeof r.end !== 'string' ||
      (r.outcome !== 'rebooted' && r.outcome !== 'aborted') ||
      Number.isNaN(Date.parse(r.start))
    ) {
      return { error: `the ${HISTORY_ANNOTATION} annotation has an entry without start, end and outcome` };
    }
    records.push(r as CycleRecord);
  }
  return { records };
}

/** The annotation with `record` first, capped; an unreadable history is started afresh. */
export function appendHistory(raw: string | undefined, record: CycleRecord): string {
  const parsed = parseHistory(raw);
  const old = 'records' in parsed ? parsed.records : [];
  const entry: CycleRecord = {
    ...record,
    ...(record.reason ? { reason: record.reason.slice(0, MAX_REASON) } : {}),
  };
  return JSON.stringify([entry, ...old].slice(0, MAX_RECORDS));
}

/** The record of a cycle that ends now. */
export function recordOf(
  cycle: Cycle,
  outcome: CycleRecord['outcome'],
  end: Date,
  reason?: string,
): CycleRecord {
  return {
    start: cycle.started ?? cycle.since,
    end: end.toISOString(),
    outcome,
    ...(cycle.drainSeconds !== undefined ? { drainSeconds: cycle.drainSeconds } : {}),
    ...(cycle.rebootSeconds !== undefined ? { rebootSeconds: cycle.rebootSeconds } : {}),
    ...(reason ? { reason } : {}),
  };
}

/** The history fields a cycle carries from phase to phase. */
export function carried(
  c: Cycle,
): Pick<Cycle, 'started' | 'drainSeconds' | 'rebootSeconds' | 'silences' | 'lockUid'> {
  return {
    ...(c.lockUid !== undefined ? { lockUid: c.lockUid } : {}),
    ...(c.silences !== undefined ? { silences: c.silences } : {}),
    ...(c.started !== undefined ? { started: c.started } : {}),
    ...(c.drainSeconds !== undefined ? { drainSeconds: c.drainSeconds } : {}),
    ...(c.rebootSeconds !== undefined ? { rebootSeconds: c.rebootSeconds } : {}),
  };
}

/** Seconds, rounded to a tenth. */
export function seconds(fromMs: number, toMs: number): number {
  return Math.round((toMs - fromMs) / 100) / 10;
}
