/**
 * Safe beside the cluster autoscaler and Karpenter (kured#1309, #707, #93; AKS#1773): a drained node
 * looks empty, and either would delete the freshly patched node. From the cordon until the lock is
 * released, and --scale-down-grace after, the node carries both "leave me" annotations. What they
 * were before (absent, or an operator's own value) is recorded on the Node in the same write as the
 * cycle, before either is touched, and put back exactly: an operator's value is never removed. Pure:
 * the agent writes what these functions return, each a single patch, so a kill at any point resumes.
 */
export const AUTOSCALER_ANNOTATION = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';
export const KARPENTER_ANNOTATION = 'karpenter.sh/do-not-disrupt';
/** The record: the values before the cycle, and (once the lock is released) until when they stay. */
export const PROTECTION_ANNOTATION = 'kured-ts.dev/scale-down-protection';

const KEYS = [AUTOSCALER_ANNOTATION, KARPENTER_ANNOTATION] as const;

interface ProtectionRecord {
  /** Each annotation's value before the cycle; null: absent. A key missing here is never touched. */
  prior: Record<string, string | null>;
  /** RFC 3339: the lock was released; the annotations are put back at this instant. */
  until?: string;
}

function parseRecord(raw: string | undefined): ProtectionRecord | undefined {
  if (raw === undefined) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<ProtectionRecord>;
    const prior: Record<string, string | null> = {};
    for (const k of KEYS) {
      const v = r.prior?.[k];
      if (v === null || typeof v === 'string') prior[k] = v;
    }
    return { prior, ...(typeof r.until === 'string' ? { until: r.until } : {}) };
  } catch {
    // Unreadable: put nothing back (an operator's value is never at risk), only the record goes.
    return { prior: {}, until: new Date(0).toISOString() };
  }
}

/**
 * Written with the cycle when the lock is taken, before any annotation is touched. A record still
 * in its grace from the cycle before keeps its own "before": the "true"s on the node now are ours.
 */
export function recordAtAcquire(annotations: Record<string, string>): Record<string, string> {
  const earlier = parseRecord(annotations[PROTECTION_ANNOTATION]);
  const prior = earlier?.prior ?? Object.fromEntries(KEYS.map((k) => [k, annotations[k] ?? null]));
  return { [PROTECTION_ANNOTATION]: JSON.stringify({ prior }) };
}

/** While the cycle holds the lock: the annotations to write (with the cordon), if not there yet. */
export function protection(annotations: Record<string, string>): Record<string, string> | undefined {
  if (!annotations[PROTECTION_ANNOTATION]) return undefined;
  if (KEYS.every((k) => annotations[k] === 'true')) return undefined;
  return Object.fromEntries(KEYS.map((k) => [k, 'true']));
}

/**
 * After the lock: the patch due now (the grace's end recorded, or everything put back), and when to
 * look again. `holding`: a cycle still holds (or is about to hold) the lock: nothing to do yet.
 */
export function afterRelease(
  annotations: Record<string, string>,
  holding: boolean,
  now: Date,
  graceMs: number,
): { patch?: Record<string, string | null>; restoreAt?: number } {
  const record = parseRecord(annotations[PROTECTION_ANNOTATION]);
  if (!record || holding) return {};
  if (!record.until && graceMs > 0) {
    const until = new Date(now.getTime() + graceMs).toISOString();
    return {
      patch: { [PROTECTION_ANNOTATION]: JSON.stringify({ ...record, until }) },
      restoreAt: Date.parse(until),
    };
  }
  const restoreAt = record.until ? Date.parse(record.until) : now.getTime();
  if (now.getTime() < restoreAt) return { restoreAt };
  return { patch: { ...record.prior, [PROTECTION_ANNOTATION]: null } };
}
