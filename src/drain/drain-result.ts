import type { DrainResult } from '../core/ports.ts';

/** What became of one pod the drain set out to evict. */
export type PodOutcome =
  | { pod: string; gone: true }
  /** permanent: retrying cannot help (two budgets, a rejected request); else the drain ran out of time. */
  | { pod: string; gone: false; cause: string; permanent: boolean };

/** Why the drain stopped trying: everything settled, the deadline passed, or the caller aborted. */
export type DrainEnd = 'settled' | 'timeout' | 'aborted';

/**
 * The drain's answer, with one line that names every pod left and why, e.g.
 * `2 pods not evicted before the drain timeout: ns/a (PodDisruptionBudget ns/pdb allows no
 * disruption: needs 2 healthy pods and has 2), ns/b (...)`.
 */
export function drainResult(outcomes: PodOutcome[], end: DrainEnd): DrainResult {
  const left = outcomes.filter((o): o is Extract<PodOutcome, { gone: false }> => !o.gone);
  if (left.length === 0) return { ok: true, evicted: outcomes.length };
  const permanent = left.every((o) => o.permanent);
  const count = left.length === 1 ? '1 pod' : `${left.length} pods`;
  const heading =
    end === 'aborted'
      ? `${count} not evicted before the drain was stopped`
      : end === 'timeout' && !permanent
        ? `${count} not evicted before the drain timeout`
        : `${count} cannot be evicted`;
  const pods = left.map((o) => `${o.pod} (${o.cause})`).join(', ');
  return { ok: false, reason: `${heading}: ${pods}`, blockingPods: left.map((o) => o.pod), permanent };
}
