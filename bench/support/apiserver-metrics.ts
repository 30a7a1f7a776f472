/**
 * kube-apiserver's own request counters, scraped from /metrics with the admin credentials: what the
 * cluster paid, counted by the server rather than by the clients we are measuring.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Cluster } from '../../testbed/src/index.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The counters and gauges we read; everything else on /metrics is skipped while parsing. */
const WANTED = new Set([
  'apiserver_request_total',
  'authenticated_user_requests',
  'apiserver_longrunning_requests',
  'apiserver_watch_events_total',
  'apiserver_watch_events_sizes_sum',
  'apiserver_response_sizes_sum',
  'apiserver_response_sizes_count',
  'apiserver_request_duration_seconds_bucket',
  'process_cpu_seconds_total',
]);

/** The ServiceAccount the benchmark's agents run as: the one identity the server counts on its own. */
export const AGENT_USER = 'system:serviceaccount:kube-system:default';

export async function scrape(cluster: Cluster): Promise<Sample[]> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${cluster.server}/metrics`,
      { ca: readFileSync(cluster.caFile), headers: { authorization: `Bearer ${cluster.adminToken}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics answered ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('/metrics timed out')));
    req.on('error', reject);
    req.end();
  });
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || !WANTED.has(m[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** after − before for each series of a counter (series missing before count from 0). */
export function diff(before: Sample[], after: Sample[], name: string): Sample[] {
  const key = (s: Sample) => JSON.stringify(s.labels);
  const old = new Map(before.filter((s) => s.name === name).map((s) => [key(s), s.value]));
  return after
    .filter((s) => s.name === name)
    .map((s) => ({ ...s, value: s.value - (old.get(key(s)) ?? 0) }))
    .filter((s) => s.value !== 0);
}

export function sum(
  samples: Sample[],
  match: (labels: Record<string, string>) => boolean = () => true,
): number {
  return samples.filter((s) => match(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** Requests made by the agents (all of them, watches counted once when opened). */
export function agentRequests(before: Sample[], after: Sample[]): number {
  return sum(diff(before, after, 'authenticated_user_requests'), (l) => l.username === AGENT_USER);
}

/** Watches open right now, all clients (the agents' share is a difference to a moment without them). */
export function openWatches(now: Sample[]): number {
  return sum(
    now.filter((s) => s.name === 'apiserver_longrunning_requests'),
    (l) => l.verb === 'WATCH',
  );
}

export interface RequestCounts {
  /** Requests on the lock's DaemonSet object (not its status), by verb and code. */
  dsByVerb: Map<string, number>;
  /** Lock writes (PATCH/PUT/UPDATE of the DaemonSet object) that succeeded, and that got 409. */
  dsWrites: number;
  dsConflicts: number;
  /** 409s on any resource the agents touch. */
  conflicts: number;
  /** Events created (all clients: the control plane posts NodeNotReady and the like too). */
  eventCreates: number;
  /** Requests on Node objects (not status), all clients, by verb. */
  nodeByVerb: Map<string, number>;
}

/** What apiserver_request_total says happened between two scrapes, on the resources agents use. */
export function requestCounts(before: Sample[], after: Sample[]): RequestCounts {
  const d = diff(before, after, 'apiserver_request_total');
  const byVerb = (resource: string) => {
    const m = new Map<string, number>();
    for (const s of d) {
      if (s.labels.resource !== resource || s.labels.subresource) continue;
      const k = `${s.labels.verb} ${s.labels.code}`;
      m.set(k, (m.get(k) ?? 0) + s.value);
    }
    return m;
  };
  const isDsWrite = (l: Record<string, string>) =>
    l.resource === 'daemonsets' &&
    !l.subresource &&
    ['PATCH', 'PUT', 'UPDATE', 'APPLY'].includes(l.verb ?? '');
  return {
    dsByVerb: byVerb('daemonsets'),
    dsWrites: sum(d, (l) => isDsWrite(l) && /^2/.test(l.code ?? '')),
    dsConflicts: sum(d, (l) => isDsWrite(l) && l.code === '409'),
    conflicts: sum(
      d,
      (l) => l.code === '409' && ['daemonsets', 'nodes', 'events'].includes(l.resource ?? ''),
    ),
    eventCreates: sum(d, (l) => l.resource === 'events' && (l.verb === 'POST' || l.verb === 'CREATE')),
    nodeByVerb: byVerb('nodes'),
  };
}

export function formatVerbs(m: Map<string, number>, per = 1): string {
  return [...m]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${per === 1 ? v : (v / per).toFixed(1)}`)
    .join(', ');
}

/** What the API server sent to its watchers, per resource: events and bytes (all watchers). */
export interface WatchTraffic {
  events: number;
  bytes: number;
}

/** apiserver_watch_events_total and apiserver_watch_events_sizes between two scrapes, by resource. */
export function watchTraffic(before: Sample[], after: Sample[]): Map<string, WatchTraffic> {
  const out = new Map<string, WatchTraffic>();
  // The label is `resource` since Kubernetes 1.31 (`kind` before).
  const key = (l: Record<string, string>) => l.resource ?? l.kind ?? '?';
  const at = (k: string) => {
    const t = out.get(k) ?? { events: 0, bytes: 0 };
    out.set(k, t);
    return t;
  };
  for (const s of diff(before, after, 'apiserver_watch_events_total')) at(key(s.labels)).events += s.value;
  for (const s of diff(before, after, 'apiserver_watch_events_sizes_sum')) at(key(s.labels)).bytes += s.value;
  return out;
}

/** Bytes and count of the answers to LIST requests of a resource (all clients). */
export function listBytes(
  before: Sample[],
  after: Sample[],
  resource: string,
): { bytes: number; lists: number } {
  const m = (l: Record<string, string>) => l.verb === 'LIST' && l.resource === resource;
  return {
    bytes: sum(diff(before, after, 'apiserver_response_sizes_sum'), m),
    lists: sum(diff(before, after, 'apiserver_response_sizes_count'), m),
  };
}

/** Requests the API server refused with 429 (its in-flight limit), all clients. */
export function tooManyRequests(before: Sample[], after: Sample[]): number {
  return sum(diff(before, after, 'apiserver_request_total'), (l) => l.code === '429');
}

/** The API server's own CPU seconds between two scrapes. */
export function apiServerCpu(before: Sample[], after: Sample[]): number {
  return sum(diff(before, after, 'process_cpu_seconds_total'));
}

/**
 * A quantile of apiserver_request_duration_seconds between two scrapes, over every request that is
 * not long-running (watches and proxies are open for minutes by design), interpolated in its bucket
 * as Prometheus' histogram_quantile does. Seconds; undefined without requests.
 */
export function requestLatencyQuantile(before: Sample[], after: Sample[], q: number): number | undefined {
  const buckets = new Map<number, number>();
  for (const s of diff(before, after, 'apiserver_request_duration_seconds_bucket')) {
    if (['WATCH', 'WATCHLIST', 'CONNECT'].includes(s.labels.verb ?? '')) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerLe;
      return lowerLe + (le - lowerLe) * ((rank - lowerCount) / Math.max(1, count - lowerCount));
    }
    lowerLe = le;
    lowerCount = count;
  }
  return lowerLe;
}

/**
 * The request kinds (verb and resource, watches left out) that make the p99: each kind's count and
 * its own quantile, slowest first, among those holding at least 1% of the requests.
 */
export function slowestRequestKinds(
  before: Sample[],
  after: Sample[],
  q: number,
  top = 4,
): { kind: string; count: number; quantile: number }[] {
  const byKind = new Map<string, Sample[]>();
  for (const s of diff(before, after, 'apiserver_request_duration_seconds_bucket')) {
    if (['WATCH', 'WATCHLIST', 'CONNECT'].includes(s.labels.verb ?? '')) continue;
    const kind = `${s.labels.verb} ${s.labels.resource}${s.labels.subresource ? `/${s.labels.subresource}` : ''}`;
    byKind.set(kind, [...(byKind.get(kind) ?? []), s]);
  }
  const counts = [...byKind].map(([kind, samples]) => ({
    kind,
    samples,
    count: sum(samples, (l) => l.le === '+Inf'),
  }));
  const total = counts.reduce((n, k) => n + k.count, 0);
  return counts
    .filter((k) => k.count >= total / 100)
    .map((k) => ({ kind: k.kind, count: k.count, quantile: requestLatencyQuantile([], k.samples, q) ?? 0 }))
    .sort((a, b) => b.quantile - a.quantile)
    .slice(0, top);
}
