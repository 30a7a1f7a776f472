/** kured's rule for which ALERTS samples block a reboot (pkg/blockers/prometheus.go), kept pure. */
import { type Matcher, matchesAny } from './matchers.ts';

export interface AlertSample {
  metric: Record<string, string>;
  /** [unix seconds, value as text], as Prometheus' query API returns it. */
  value: [number, string];
}

export interface AlertFilter {
  /** Default: alerts whose name matches are ignored; with matchOnly, only matching ones block. */
  regexp: RegExp | undefined;
  matchOnly: boolean;
  /** Ignore pending alerts. */
  firingOnly: boolean;
  /** kured-ts: only alerts whose labels match every matcher of one of these lists block (--alert-matchers). */
  matchers?: Matcher[][];
}

/** Distinct, sorted names of the alerts that block. */
export function blockingAlertNames(samples: AlertSample[], filter: AlertFilter): string[] {
  const names = new Set<string>();
  for (const { metric, value } of samples) {
    const name = metric.alertname;
    if (name === undefined) continue;
    if (Number.parseFloat(value[1]) === 0) continue;
    if (filter.regexp) {
      filter.regexp.lastIndex = 0; // a /g or /y regexp remembers where it stopped
      if (filter.regexp.test(name) !== filter.matchOnly) continue;
    }
    if (filter.firingOnly && metric.alertstate !== 'firing') continue;
    if (filter.matchers && !matchesAny(metric, filter.matchers)) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** Up to `max` names, then how many more. */
export function listNames(names: string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
