/** What every notification service implements, and the HTTP helper they share. */

export interface DeliveryOptions {
  /**
   * Tests only (not a flag): replaces the scheme, host and port of every request, so that services
   * with a fixed host (Slack, Discord, Telegram) and Teams can be pointed at a local receiver.
   */
  baseUrl?: string;
  timeoutMs: number;
}

/** A parsed --notify-url, ready to send. */
export interface Target {
  /** The scheme, e.g. `slack`. */
  readonly service: string;
  /** Safe to log: never a token, password or webhook path. */
  readonly display: string;
  /** Strings scrubbed from any error message before it is logged. */
  readonly secrets: readonly string[];
  send(message: string, opts: DeliveryOptions): Promise<void>;
}

/** A failed send; `permanent` ones (a 4xx other than 429) are not retried. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
  }
}

export function endpoint(url: string, opts: DeliveryOptions): string {
  if (!opts.baseUrl) return url;
  const real = new URL(url);
  return new URL(real.pathname + real.search, opts.baseUrl).href;
}

/** POSTs a body; resolves on 2xx, else throws a DeliveryError with the status and the start of the answer. */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: DeliveryOptions & { method?: string },
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(endpoint(url, opts), {
      method: opts.method ?? 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    throw new DeliveryError(networkCause(err), false);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    const permanent = res.status >= 400 && res.status < 500 && res.status !== 429;
    throw new DeliveryError(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, permanent);
  }
  return text;
}

export function postJson(
  url: string,
  payload: unknown,
  opts: DeliveryOptions,
  headers: Record<string, string> = {},
) {
  return post(url, JSON.stringify(payload), { 'content-type': 'application/json', ...headers }, opts);
}

/** fetch reports "fetch failed" and hides the socket error in `cause`. */
function networkCause(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? String(err);
}
