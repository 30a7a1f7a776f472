/**
 * The Prometheus gate: an instant query of ALERTS with kured's filter semantics, plus what kured
 * lacks: a bearer token or basic auth read from a file (re-read at each query, so a rotated Secret
 * is picked up) and a custom CA. Any failure to get an answer keeps the gate closed.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../core/errors.ts';
import type { Gate, GateVerdict } from '../core/ports.ts';
import { type AlertFilter, type AlertSample, blockingAlertNames, listNames } from './alerts.ts';
import { getJson } from './http-get.ts';

export interface PrometheusGateOptions extends AlertFilter {
  url: string;
  /** File holding a bearer token. */
  bearerTokenFile?: string;
  /** File holding `user:password` on its first line. */
  basicAuthFile?: string;
  /** PEM file of the CA(s) that sign Prometheus' certificate. */
  caFile?: string;
  timeoutMs?: number;
}

interface QueryResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: AlertSample[] };
}

export function prometheusGate(opts: PrometheusGateOptions): Gate {
  const target = parsePrometheusUrl(opts.url);
  if (opts.bearerTokenFile && opts.basicAuthFile) {
    throw new ConfigError(
      '--prometheus-bearer-token-file and --prometheus-basic-auth-file are both set; keep only one',
    );
  }
  // Read once at startup so a wrong path is a startup error, not a silently blocked node.
  if (opts.bearerTokenFile) readSecretSync(opts.bearerTokenFile, '--prometheus-bearer-token-file');
  if (opts.basicAuthFile) basicAuthHeader(readSecretSync(opts.basicAuthFile, '--prometheus-basic-auth-file'));
  const ca = opts.caFile ? readSecretSync(opts.caFile, '--prometheus-ca-file') : undefined;
  const queryUrl = new URL('api/v1/query', target.base);
  queryUrl.searchParams.set('query', 'ALERTS');
  const filter: AlertFilter = { regexp: opts.regexp, matchOnly: opts.matchOnly, firingOnly: opts.firingOnly };

  return {
    name: 'prometheus',
    async check(): Promise<GateVerdict> {
      let samples: AlertSample[];
      try {
        const headers: Record<string, string> = { accept: 'application/json' };
        const auth = await authorization(opts, target.userinfo);
        if (auth) headers.authorization = auth;
        const res = await getJson(queryUrl, {
          headers,
          ...(ca ? { ca } : {}),
          timeoutMs: opts.timeoutMs ?? 10_000,
        });
        const body = (res.body ?? {}) as QueryResponse;
        if (res.status < 200 || res.status > 299 || body.status !== 'success') {
          throw new Error(`HTTP ${res.status}${body.error ? `: ${body.error}` : ''}`);
        }
        samples = body.data?.result ?? [];
      } catch (err) {
        return {
          open: false,
          reason: `cannot query Prometheus at ${target.display} (${describeError(err)}); blocking until it answers`,
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
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `--prometheus-url: "${redactUrl(raw)}" is not a URL; use e.g. http://prometheus:9090`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(
      `--prometheus-url: scheme ${url.protocol} is not supported; use http:// or https://`,
    );
  }
  const userinfo = url.username
    ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
    : undefined;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { base: url, userinfo, display: url.href };
}

async function authorization(
  opts: PrometheusGateOptions,
  userinfo: string | undefined,
): Promise<string | undefined> {
  if (opts.bearerTokenFile) return `Bearer ${(await readSecret(opts.bearerTokenFile)).trim()}`;
  if (opts.basicAuthFile) return basicAuthHeader(await readSecret(opts.basicAuthFile));
  if (userinfo) return `Basic ${Buffer.from(userinfo).toString('base64')}`;
  return undefined;
}

/** `user:password` on the first line; the password may itself contain colons. */
function basicAuthHeader(content: string): string {
  const line = content.split(/\r?\n/)[0] ?? '';
  if (!line.includes(':')) {
    throw new ConfigError('--prometheus-basic-auth-file: expected "user:password" on the first line');
  }
  return `Basic ${Buffer.from(line).toString('base64')}`;
}

async function readSecret(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function readSecretSync(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the mount`,
    );
  }
}

/** The innermost message of an error (a wrapped socket error carries the real one as its cause). */
function describeError(err: unknown): string {
  let e = err as { message?: string; cause?: unknown; code?: string } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return e?.message ?? String(err);
}

/** Drops user and password from a URL-ish string for messages. */
function redactUrl(raw: string): string {
  return raw.replace(/\/\/[^/@]*@/, '//');
}
