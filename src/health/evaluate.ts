/** Is the rebooted node healthy? Its pods first (watched), then, if asked, the Prometheus alerts (polled). */
import type { Health } from '../core/phase.ts';
import type { Gate, PodHealth } from '../core/ports.ts';
import { statusMessage } from '../kube/errors.ts';
import { describeProblems } from './rules.ts';

export interface HealthDeps {
  pods: PodHealth;
  /** The Prometheus gate, when --post-reboot-check-alerts is set. */
  alerts?: Gate | undefined;
}

/** Never throws: a failed read counts as not healthy (fail closed) and is asked again after recheckMs. */
export async function evaluateHealth(
  deps: HealthDeps,
  rebootedAfter: Date | undefined,
  now: Date,
  recheckMs: number,
): Promise<Health> {
  // Neither a failed list nor an alert produces a pod event: those two are asked again on a timer.
  const retryAt = new Date(now.getTime() + recheckMs);
  let problems: string[];
  try {
    problems = await deps.pods.problems(rebootedAfter);
  } catch (err) {
    return { healthy: false, reason: `cannot list the pods on this node (${statusMessage(err)})`, retryAt };
  }
  if (problems.length > 0) return { healthy: false, reason: describeProblems(problems) };
  if (deps.alerts) {
    const verdict = await deps.alerts.check(now).catch((err: unknown) => ({
      open: false as const,
      reason: `the Prometheus check failed: ${err instanceof Error ? err.message : String(err)}`,
    }));
    if (!verdict.open) return { healthy: false, reason: verdict.reason, retryAt };
  }
  return { healthy: true };
}
