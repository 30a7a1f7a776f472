/**
 * HTTP to the Kubernetes API server over node:https: one keep-alive connection pool with the
 * kubeconfig's TLS, the credentials on every request, a deadline on every request, and errors that
 * say what happened in one line (ApiError for an answer with an error status, NoAnswerError for no
 * answer). Used instead of @kubernetes/client-node, whose generated models cost the agent ~50 MB.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { ApiError, httpCode, NoAnswerError, retryAfterMs } from './errors.ts';
import type { KubeConnection } from './kubeconfig.ts';

/** No single API request may hang longer than this (watches are not API requests and stay open). */
export const REQUEST_TIMEOUT_MS = 30_000;

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Default `application/json`; `application/merge-patch+json` for a merge patch. */
  contentType?: string;
  /** Default `application/json`; a metadata-only list asks for `...;as=PartialObjectMetadataList`. */
  accept?: string;
  /** The caller's cancellation; an abort rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A request the API server refused with 429 (too busy), and how long we wait before sending it again. */
export interface Throttled {
  /** `PATCH /api/v1/nodes/n1` */
  request: string;
  /** What the server asked for (Retry-After), if it said. */
  toldMs: number | undefined;
  waitMs: number;
  /** 1 for the first wait of this request. */
  attempt: number;
}

export interface TransportOptions {
  timeoutMs?: number;
  /** Told of each wait after a 429 (the agent logs it as a warning). */
  onThrottled?: (t: Throttled) => void;
  /** How many times one request waits after a 429 before the 429 is the caller's (default 6). */
  throttleRetries?: number;
}

/** The longest wait after a 429. */
const MAX_THROTTLE_WAIT_MS = 30_000;

/**
 * The wait after the nth 429 of one request: at least what the server asked (Retry-After, 1 s when it
 * did not say) and at least 1 s doubling with each 429, then up to as much again at random, so that
 * the many clients refused in the same second (a fleet's first rush) come back spread out.
 */
export function throttleWaitMs(toldMs: number | undefined, attempt: number, random = Math.random): number {
  const floor = Math.max(toldMs ?? 1000, 1000 * 2 ** (attempt - 1));
  return Math.min(MAX_THROTTLE_WAIT_MS, floor * (1 + random()));
}

/**
 * A 429 we may simply send again later: the API server's "too busy" (its in-flight limit or
 * priority and fairness), which refused the request before doing anything. An eviction's 429 is a
 * PodDisruptionBudget's answer, which the drain weighs itself (src/drain/eviction-refusal.ts).
 */
function mayWaitAndRetry(err: unknown, path: string): boolean {
  return httpCode(err) === 429 && !pathOnly(path).endsWith('/eviction');
}

/** A streaming GET: the status and the body's lines (a watch's events). */
export interface StreamResponse {
  status: number;
  lines: AsyncIterable<string>;
}

export class KubeTransport {
  readonly server: string;
  readonly source: string;
  private readonly connection: KubeConnection;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly base: URL;
  private readonly onThrottled: ((t: Throttled) => void) | undefined;
  private readonly throttleRetries: number;

  constructor(connection: KubeConnection, opts: TransportOptions = {}) {
    this.connection = connection;
    this.server = connection.server;
    this.source = connection.source;
    this.base = new URL(connection.server);
    this.timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.onThrottled = opts.onThrottled;
    this.throttleRetries = opts.throttleRetries ?? 6;
    // Kept alive, but after a burst (the start-up's access reviews, a drain's evictions) only a
    // couple of idle connections stay open: one agent per node, each holding ten idle connections,
    // is ten thousand connections to the API server at a thousand nodes.
    const pool = { keepAlive: true, maxFreeSockets: 2 };
    this.agent =
      this.base.protocol === 'http:'
        ? new http.Agent(pool)
        : new https.Agent({
            ...pool,
            ...(connection.ca ? { ca: connection.ca } : {}),
            ...(connection.cert ? { cert: connection.cert } : {}),
            ...(connection.key ? { key: connection.key } : {}),
            rejectUnauthorized: !connection.insecureSkipTlsVerify,
            ...(connection.tlsServerName ? { servername: connection.tlsServerName } : {}),
          });
  }

  /**
   * One request; resolves to the parsed JSON body (undefined when empty), rejects with ApiError or
   * NoAnswerError. A 429 from a busy server is sent again after the wait it asked for (jittered).
   */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    let staleRetried = false;
    for (let throttled = 0; ; ) {
      try {
        return await this.once<T>(method, path, opts, body);
      } catch (err) {
        // A kept-alive connection the server closed as we reused it: the request never arrived.
        if (err instanceof StaleConnection) {
          if (staleRetried) throw err.cause;
          staleRetried = true;
          continue;
        }
        if (!mayWaitAndRetry(err, path) || throttled >= this.throttleRetries) throw err;
        throttled++;
        const toldMs = retryAfterMs(err);
        const waitMs = throttleWaitMs(toldMs, throttled);
        this.onThrottled?.({ request: `${method} ${pathOnly(path)}`, toldMs, waitMs, attempt: throttled });
        await pause(waitMs, opts.signal);
      }
    }
  }

  /** A GET whose body is read line by line as it arrives; the deadline covers only the response headers. */
  async stream(path: string, signal: AbortSignal): Promise<StreamResponse> {
    const { res } = await this.send('GET', path, {}, undefined, signal, true);
    res.setEncoding('utf8');
    return { status: res.statusCode ?? 0, lines: lines(res) };
  }

  /** Closes the idle kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private async once<T>(
    method: string,
    path: string,
    opts: RequestOptions,
    body: string | undefined,
  ): Promise<T> {
    const { res, text } = await this.send(method, path, opts, body, opts.signal, false);
    const parsed = parseBody(text, res.headers['content-type']);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return parsed as T;
    throw new ApiError(status, parsed, flatHeaders(res), `${method} ${pathOnly(path)}`);
  }

  /** Sends one request; the deadline covers the whole answer, or only its headers for a stream. */
  private async send(
    method: string,
    path: string,
    opts: RequestOptions,
    body: string | undefined,
    signal: AbortSignal | undefined,
    streaming: boolean,
  ): Promise<{ res: IncomingMessage; text: string }> {
    const url = this.url(path, opts.query);
    const what = `${method} ${pathOnly(path)}`;
    const authorization = await this.connection.authorization();
    const headers: Record<string, string> = {
      Accept: opts.accept ?? 'application/json',
      'User-Agent': 'kured-ts',
    };
    if (authorization) headers.Authorization = authorization;
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    signal?.throwIfAborted();
    const transport = this.base.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      let settled = false;
      const req: ClientRequest = transport.request(url, { method, headers, agent: this.agent });
      const settle = (done: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        done();
      };
      const fail = (err: unknown) => settle(() => reject(err));
      const timer = setTimeout(() => {
        fail(
          new NoAnswerError(
            `the Kubernetes API server at ${this.server} did not answer ${what} in time (${this.timeoutMs / 1000} s)`,
            true,
          ),
        );
        req.destroy();
      }, this.timeoutMs);
      const onAbort = () => {
        fail(signal?.reason);
        req.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const reused = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        fail(reused && method === 'GET' ? new StaleConnection(this.noAnswer(err)) : this.noAnswer(err));
      });
      req.on('response', (res) => {
        if (streaming) {
          settle(() => resolve({ res, text: '' }));
          // From here the caller's signal ends the stream.
          if (signal) signal.addEventListener('abort', () => res.destroy(), { once: true });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => settle(() => resolve({ res, text: Buffer.concat(chunks).toString('utf8') })));
        res.on('error', (err: NodeJS.ErrnoException) => fail(this.noAnswer(err)));
      });
      req.end(body);
    });
  }

  private noAnswer(err: NodeJS.ErrnoException): NoAnswerError {
    const detail = err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message;
    const tls = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/.test(
      `${err.code} ${err.message}`,
    );
    const fix = tls ? `; check the cluster's CA certificate and server address in ${this.source}` : '';
    return new NoAnswerError(
      `cannot reach the Kubernetes API server at ${this.server}: ${detail}${fix}`,
      false,
      err,
    );
  }

  private url(path: string, query: Query | undefined): URL {
    // The server's own path (a proxy's prefix) comes before the API path.
    const url = new URL(this.base.pathname.replace(/\/$/, '') + path, this.base);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }
}

/** A reused keep-alive connection failed before the request was sent: safe to retry a GET once. */
class StaleConnection extends Error {
  override readonly cause: NoAnswerError;
  constructor(cause: NoAnswerError) {
    super(cause.message);
    this.cause = cause;
  }
}

/** Sleeps; an abort of the caller's signal rejects with its reason, as a request would. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function pathOnly(path: string): string {
  return path.split('?')[0] ?? path;
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined;
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function flatHeaders(res: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** The body's lines as they arrive (a watch sends one JSON event per line). */
async function* lines(res: IncomingMessage): AsyncIterable<string> {
  let rest = '';
  for await (const chunk of res as AsyncIterable<string>) {
    rest += chunk;
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl).trim();
      if (line !== '') yield line;
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
  }
  if (rest.trim() !== '') yield rest.trim();
}
