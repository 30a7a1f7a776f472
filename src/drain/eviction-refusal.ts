import {
  apiStatus,
  hasStatusCause,
  httpCode,
  isConflict,
  isForbidden,
  isNotFound,
  isTooManyRequests,
  retryAfterMs,
  statusMessage,
} from '../kube/errors.ts';

/**
 * What an error from the Eviction API means for the pod, from the server side of
 * pkg/registry/core/pod/storage/eviction.go. Pure: no I/O.
 */
export type EvictionRefusal =
  /** 404: the pod is already gone, which is what we wanted. */
  | { kind: 'gone' }
  /** 429: a PodDisruptionBudget allows no disruption now; retry after retryAfterMs (server's word). */
  | { kind: 'budget'; cause: string; budgets: string[]; retryAfterMs: number | undefined }
  /** 500: two or more budgets select the pod; the Eviction API never accepts that. */
  | { kind: 'multipleBudgets'; cause: string }
  /** 403: the namespace is being deleted; wait for the pod if it is deleting, else retry. */
  | { kind: 'namespaceTerminating'; cause: string }
  /** 409: our UID precondition failed (the pod was replaced) or a race; look at the pod again. */
  | { kind: 'conflict'; cause: string }
  /**
   * An admission webhook (or ValidatingAdmissionPolicy) denied it, e.g. Strimzi's Drain Cleaner,
   * which then moves the pod itself: retry with backoff until the drain timeout; cause is its message.
   */
  | { kind: 'denied'; cause: string }
  /** A client error retrying cannot fix (a bad request). */
  | { kind: 'rejected'; cause: string }
  /** The API server or the network failed; retry with backoff. */
  | { kind: 'transient'; cause: string };

export function classifyEvictionError(err: unknown, namespace: string): EvictionRefusal {
  if (isNotFound(err)) return { kind: 'gone' };
  if (isTooManyRequests(err))
    return { kind: 'budget', ...describeBudgetRefusal(err, namespace), retryAfterMs: retryAfterMs(err) };
  const message = statusMessage(err);
  if (httpCode(err) === 500 && /more than one PodDisruptionBudget/i.test(message)) {
    return {
      kind: 'multipleBudgets',
      cause: 'more than one PodDisruptionBudget selects it, and the Eviction API accepts at most one',
    };
  }
  if (isForbidden(err) && hasStatusCause(err, 'NamespaceTerminating')) {
    return { kind: 'namespaceTerminating', cause: `namespace ${namespace} is terminating` };
  }
  if (isConflict(err)) return { kind: 'conflict', cause: message };
  // Whatever code the webhook chose (403 by default, Strimzi's 500, a 4xx), its verdict may change.
  if (ADMISSION_DENIAL.test(message)) return { kind: 'denied', cause: message };
  const code = httpCode(err);
  // 403 covers RBAC but also "disruptions allowed is negative", which the disruption controller fixes.
  if (code !== undefined && code >= 400 && code < 500 && code !== 403 && code !== 408) {
    return { kind: 'rejected', cause: message };
  }
  return { kind: 'transient', cause: message };
}

// kube-apiserver's words: `admission webhook "<name>" denied the request: <message>` (webhook
// errors.ToStatusErr) and `... ValidatingAdmissionPolicy '<name>' with binding '<b>' denied request: ...`.
const ADMISSION_DENIAL =
  /admission webhook "[^"]*" denied the request|ValidatingAdmissionPolicy '[^']*'.* denied request/;

/**
 * One readable cause per blocking budget, with the budget named as namespace/name, e.g.
 * `PodDisruptionBudget ns/web allows no disruption: needs 2 healthy pods and has 2`.
 */
export function describeBudgetRefusal(err: unknown, namespace: string): { cause: string; budgets: string[] } {
  const status = apiStatus(err);
  const causes = (status?.details?.causes ?? []).filter((c) => c.reason === 'DisruptionBudget' && c.message);
  const budgets: string[] = [];
  const texts: string[] = [];
  for (const c of causes) {
    const parsed = parseBudgetCause(c.message!, namespace);
    if (parsed.budget !== undefined && !budgets.includes(parsed.budget)) budgets.push(parsed.budget);
    texts.push(parsed.text);
  }
  if (texts.length === 0) return { cause: statusMessage(err), budgets };
  return { cause: texts.join('; '), budgets };
}

// The server's sentences: "The disruption budget <name> needs <d> healthy pods and has <c> currently",
// "... is still being processed by the server.", "... does not allow evicting pods currently ...".
const BUDGET_CAUSE = /^The disruption budget (\S+) (.*?)\.?$/;
const NEEDS_HEALTHY = /^needs (\d+) healthy pods? and has (\d+)(?: currently)?$/;

function parseBudgetCause(message: string, namespace: string): { budget?: string; text: string } {
  const m = BUDGET_CAUSE.exec(message.trim());
  if (!m) return { text: message };
  const budget = `${namespace}/${m[1]}`;
  const rest = m[2] ?? '';
  const needs = NEEDS_HEALTHY.exec(rest);
  if (needs) {
    return {
      budget,
      text: `PodDisruptionBudget ${budget} allows no disruption: needs ${needs[1]} healthy pods and has ${needs[2]}`,
    };
  }
  return { budget, text: `PodDisruptionBudget ${budget} ${rest}` };
}
