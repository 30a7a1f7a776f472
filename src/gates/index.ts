/** The gates that can hold a reboot back, built from the config in kured's order: window, Prometheus, pods. */

import type { Config } from '../core/config.ts';
import type { Gate, GateVerdict } from '../core/ports.ts';
import type { Kube } from '../kube/client.ts';
import { alertmanagerEndpoint, alertmanagerGate } from './alertmanager.ts';
import { type BudgetSource, budgetsGate } from './budgets.ts';
import { type Matcher, parseMatchers } from './matchers.ts';
import { podsGate } from './pods.ts';
import { prometheusEndpoint, prometheusGate } from './prometheus.ts';
import { prometheusQueryGate } from './prometheus-query.ts';
import { parseMaintenanceWindow, parseNotAllowedDates, Schedule, scheduleGate } from './schedule.ts';
import { parseWindow } from './window.ts';

export { Schedule } from './schedule.ts';
export { parseWindow, type RebootWindow, windowGate } from './window.ts';

export interface GateDeps {
  /** Needed only when --blocking-pod-selector is set. */
  kube?: Kube;
  /** The budget pre-flight's source; without it (or with --budget-preflight=false) there is none. */
  budgets?: BudgetSource;
}

export type GateConfig = Pick<
  Config,
  | 'nodeId'
  | 'rebootDays'
  | 'startTime'
  | 'endTime'
  | 'timeZone'
  | 'prometheusUrl'
  | 'alertFilterRegexp'
  | 'alertFilterMatchOnly'
  | 'alertFiringOnly'
  | 'blockingPodSelector'
  | 'prometheusBearerTokenFile'
  | 'prometheusBasicAuthFile'
  | 'prometheusCaFile'
> &
  Partial<
    Pick<
      Config,
      | 'budgetPreflight'
      | 'maintenanceWindow'
      | 'notAllowedDates'
      | 'alertMatchers'
      | 'blockingPrometheusQuery'
      | 'alertmanagerUrl'
      | 'alertmanagerBearerTokenFile'
      | 'alertmanagerBasicAuthFile'
      | 'alertmanagerCaFile'
    >
  >;

/** kured's window with the maintenance windows and not-allowed dates: when a reboot may start. */
export function windowFromConfig(config: GateConfig): Schedule {
  return new Schedule(
    parseWindow(config.rebootDays, config.startTime, config.endTime, config.timeZone),
    (config.maintenanceWindow ?? []).filter((w) => w.trim() !== '').map(parseMaintenanceWindow),
    parseNotAllowedDates(config.notAllowedDates ?? []),
  );
}

/** Throws ConfigError on a bad window, Prometheus URL or credential file. */
export function createGates(config: GateConfig, deps: GateDeps): Gate[] {
  const gates: Gate[] = [scheduleGate(windowFromConfig(config))];
  const matchers = alertMatchers(config.alertMatchers ?? []);
  if (config.prometheusUrl) {
    const opts = {
      url: config.prometheusUrl,
      regexp: config.alertFilterRegexp,
      matchOnly: config.alertFilterMatchOnly,
      firingOnly: config.alertFiringOnly,
      bearerTokenFile: config.prometheusBearerTokenFile || undefined,
      basicAuthFile: config.prometheusBasicAuthFile || undefined,
      caFile: config.prometheusCaFile || undefined,
      ...(matchers.length ? { matchers } : {}),
    };
    const endpoint = prometheusEndpoint(opts);
    gates.push(prometheusGate(opts, endpoint));
    const queries = (config.blockingPrometheusQuery ?? []).filter((q) => q.trim() !== '');
    if (queries.length) gates.push(prometheusQueryGate(endpoint, queries));
  }
  if (config.alertmanagerUrl) {
    const endpoint = alertmanagerEndpoint({
      url: config.alertmanagerUrl,
      bearerTokenFile: config.alertmanagerBearerTokenFile || undefined,
      basicAuthFile: config.alertmanagerBasicAuthFile || undefined,
      caFile: config.alertmanagerCaFile || undefined,
    });
    gates.push(
      alertmanagerGate(endpoint, {
        regexp: config.alertFilterRegexp,
        matchOnly: config.alertFilterMatchOnly,
        ...(matchers.length ? { matchers } : {}),
      }),
    );
  }
  const selectors = config.blockingPodSelector.filter((s) => s.trim() !== '');
  if (selectors.length > 0) {
    if (!deps.kube) throw new Error('createGates: blocking pod selectors need the Kubernetes client');
    gates.push(podsGate(deps.kube, config.nodeId, selectors));
  }
  // Last: the costliest, and asked only at this node's turn, right before it takes the lock.
  if (config.budgetPreflight && deps.budgets) gates.push(budgetsGate(deps.budgets, config.nodeId));
  return gates;
}

/** --alert-matchers: one matcher list per value (any list may match). */
export function alertMatchers(values: string[]): Matcher[][] {
  return values.filter((v) => v.trim() !== '').map((v) => parseMatchers(v, '--alert-matchers'));
}

export type GatesVerdict = GateVerdict & { gate?: string };

/**
 * The first closed gate wins (later ones are not asked); a gate that throws counts as closed.
 * `beforeLock` picks the gates asked: only those asked right before taking the lock (true), only
 * the others (false), or all (undefined). The agent asks the costly pre-flight only at its turn,
 * so its cost is paid once per lock taken, not by every waiting node on every lock change.
 */
export async function evaluateGates(
  gates: Gate[],
  now: Date,
  opts: { beforeLock?: boolean } = {},
): Promise<GatesVerdict> {
  for (const gate of gates) {
    if (opts.beforeLock !== undefined && (gate.beforeLock ?? false) !== opts.beforeLock) continue;
    const verdict = await checkGate(gate, now);
    if (!verdict.open) return { ...verdict, gate: gate.name };
  }
  return { open: true };
}

/** One gate's verdict now, as the agent reads it (and `kured-ts plan`): a gate that throws counts as closed. */
export async function checkGate(gate: Gate, now: Date): Promise<GateVerdict> {
  try {
    return await gate.check(now);
  } catch (err) {
    return {
      open: false,
      reason: `the ${gate.name} gate failed: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}
