/**
 * --blocking-prometheus-query: the user's own PromQL expressions, asked of the Prometheus of
 * --prometheus-url. One blocks while it returns anything (a non-empty vector or matrix, or a
 * scalar or string, which always is); the reason names the expression and what it returned.
 */
import type { Gate, GateVerdict } from '../core/ports.ts';
import { listNames } from './alerts.ts';
import { describeError, type Endpoint } from './endpoint.ts';
import { instantQuery } from './prometheus.ts';

interface Series {
  metric?: Record<string, string>;
}

export function prometheusQueryGate(endpoint: Endpoint, queries: string[]): Gate {
  return {
    name: 'promql',
    async check(): Promise<GateVerdict> {
      for (const query of queries) {
        let answer: { resultType: string; result: unknown };
        try {
          answer = await instantQuery(endpoint, query);
        } catch (err) {
          return {
            open: false,
            reason: `cannot run ${JSON.stringify(query)} on Prometheus at ${endpoint.display} (${describeError(err)}); blocking until it answers`,
          };
        }
        const series = Array.isArray(answer.result) ? (answer.result as Series[]) : [answer.result];
        if (answer.resultType !== 'scalar' && answer.resultType !== 'string' && series.length === 0) continue;
        const shown = series.map((s) => describeSeries((s as Series | undefined)?.metric ?? {}));
        const noun = series.length === 1 ? 'result' : 'results';
        return {
          open: false,
          reason: `the query ${JSON.stringify(query)} returned ${series.length} ${noun}${shown.some(Boolean) ? `: ${listNames(shown, 5)}` : ''}`,
        };
      }
      return { open: true };
    },
  };
}

/** `{instance="a:9100",job="node"}`, the metric name first when there is one. */
function describeSeries(metric: Record<string, string>): string {
  const { __name__: name, ...labels } = metric;
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name ?? ''}${pairs.length ? `{${pairs.join(',')}}` : ''}`;
}
