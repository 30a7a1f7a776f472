/**
 * Alertmanager (its v2 API): the gate, and the silence held during a reboot (./silence.ts).
 * The gate asks for the active alerts that are neither silenced nor inhibited: those block, once
 * --alert-matchers (and kured's --alert-filter-regexp on the alert name) select them. Any failure
 * to get an answer keeps the gate closed.
 */
import type { Gate, GateVerdict } from '../core/ports.ts';
import { type AlertFilter, listNames } from './alerts.ts';
import { describeError, Endpoint, type EndpointOptions, flagsFor } from './endpoint.ts';
import { matchesAny } from './matchers.ts';

export const ALERTMANAGER_FLAGS = flagsFor('alertmanager', 'http://alertmanager:9093');

export function alertmanagerEndpoint(opts: EndpointOptions): Endpoint {
  return new Endpoint(opts, ALERTMANAGER_FLAGS);
}

/** An alert as GET /api/v2/alerts returns it (the fields used). */
interface GettableAlert {
  labels?: Record<string, string>;
  status?: { state?: string; silencedBy?: string[]; inhibitedBy?: string[] };
}

export function alertmanagerGate(endpoint: Endpoint, filter: Omit<AlertFilter, 'firingOnly'>): Gate {
  const url = endpoint.url('api/v2/alerts');
  // Alertmanager drops the silenced, inhibited and not yet processed ones itself.
  for (const [k, v] of Object.entries({
    active: 'true',
    silenced: 'false',
    inhibited: 'false',
    unprocessed: 'false',
  }))
    url.searchParams.set(k, v);
  return {
    name: 'alertmanager',
    async check(): Promise<GateVerdict> {
      let alerts: GettableAlert[];
      try {
        const res = await endpoint.call(url, 'GET');
        if (res.status < 200 || res.status > 299 || !Array.isArray(res.body)) {
          throw new Error(
            `HTTP ${res.status}${res.text ? `: ${res.text.split('\n')[0]?.slice(0, 200)}` : ''}`,
          );
        }
        alerts = res.body as GettableAlert[];
      } catch (err) {
        return {
          open: false,
          reason: `cannot query Alertmanager at ${endpoint.display} (${describeError(err)}); blocking until it answers`,
        };
      }
      const names = new Set<string>();
      for (const a of alerts) {
        const labels = a.labels ?? {};
        // Also checked here: an older Alertmanager may ignore the query's filters.
        if (a.status?.state && a.status.state !== 'active') continue;
        if (a.status?.silencedBy?.length || a.status?.inhibitedBy?.length) continue;
        const name = labels.alertname ?? '';
        if (filter.regexp) {
          filter.regexp.lastIndex = 0;
          if (filter.regexp.test(name) !== filter.matchOnly) continue;
        }
        if (filter.matchers && !matchesAny(labels, filter.matchers)) continue;
        names.add(name || '(no alertname)');
      }
      if (names.size === 0) return { open: true };
      const sorted = [...names].sort();
      const noun = sorted.length === 1 ? 'alert' : 'alerts';
      return { open: false, reason: `${sorted.length} firing ${noun} in Alertmanager: ${listNames(sorted)}` };
    },
  };
}
