/**
 * The Prometheus gate: an instant query of ALERTS with kured's filter semantics, plus what kured
 * lacks: Alertmanager matchers on the alerts' labels (--alert-matchers), a bearer token or basic
 * auth read from a file and a custom CA (./endpoint.ts). Any failure to get an answer keeps the
 * gate closed. ./prometheus-query.ts runs the user's own PromQL through the same endpoint.
 */
import type { Gate, GateVerdict } from '../core/ports.ts';
import { type AlertFilter, type AlertSample, blockingAlertNames, listNames } from './alerts.ts';
import { describeError, Endpoint, flagsFor, parseServiceUrl } from './endpoint.ts';
import type { Matcher } from './matchers.ts';

export interface PrometheusGateOptions extends AlertFilter {
  url: string;
  /** File holding a bearer token. */
  bearerTokenFile?: string | undefined;
  /** File holding `user:password` on its first line. */
  basicAuthFile?: string | undefined;
  /** PEM file of the CA(s) that sign Prometheus' certificate. */
  caFile?: string | undefined;
  timeoutMs?: number;
  /** Only alerts matching every matcher of one of these lists block (--alert-matchers). */
  matchers?: Matcher[][];
}

interface QueryResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

export const PROMETHEUS_FLAGS = flagsFor('prometheus', 'http://prometheus:9090');

export function prometheusEndpoint(opts: PrometheusGateOptions): Endpoint {
  return new Endpoint(opts, PROMETHEUS_FLAGS);
}

/** One instant query; rejects with the cause when Prometheus gives no usable answer. */
export async function instantQuery(
  endpoint: Endpoint,
  query: string,
): Promise<{ resultType: string; result: unknown }> {
  const url = endpoint.url('api/v1/query');
  url.searchParams.set('query', query);
  const res = await endpoint.call(url, 'GET');
  const body = (res.body ?? {}) as QueryResponse;
  if (res.status < 200 || res.status > 299 || body.status !== 'success') {
    throw new Error(`HTTP ${res.status}${body.error ? `: ${body.error}` : ''}`);
  }
  return { resultType: body.data?.resultType ?? '', result: body.data?.result ?? [] };
}

export function prometheusGate(opts: PrometheusGateOptions, endpoint = prometheusEndpoint(opts)): Gate {
  const filter: AlertFilter = {
    regexp: opts.regexp,
    matchOnly: opts.matchOnly,
    firingOnly: opts.firingOnly,
    ...(opts.matchers ? { matchers: opts.matchers } : {}),
  };
  return {
    name: 'prometheus',
    async check(): Promise<GateVerdict> {
      let samples: AlertSample[];
      try {
        samples = (await instantQuery(endpoint, 'ALERTS')).result as AlertSample[];
      } catch (err) {
        return {
          open: false,
          reason: `cannot query Prometheus at ${endpoint.display} (${describeError(err)}); blocking until it answers`,
        };
      }
      const names = blockingAlertNames(samples, filter);
      if (names.length === 0) return { open: true };
      const noun = names.length === 1 ? 'alert' : 'alerts';
      return { open: false, reason: `${names.length} active ${noun} in Prometheus: ${listNames(names)}` };
    },
  };
}

/** The query base, credentials taken out of the URL (sent as a header instead), and a loggable form. */
export function parsePrometheusUrl(raw: string): {
  base: URL;
  userinfo: string | undefined;
  display: string;
} {
  return parseServiceUrl(raw, PROMETHEUS_FLAGS);
}
