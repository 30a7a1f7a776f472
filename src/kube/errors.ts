/**
 * The errors of our Kubernetes transport (./transport.ts), and their classification. An ApiError
 * carries the HTTP code, the response body (a metav1.Status from the API server, parsed when it is
 * JSON) and lower-cased headers. Classification duck-types on `code`, so an ApiException of
 * @kubernetes/client-node (the tests' client) is read the same way.
 */

/** The API server answered with an error status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  constructor(code: number, body: unknown, headers: Record<string, string>, request: string) {
    const status = typeof body === 'object' && body !== null ? (body as ApiStatus).message : undefined;
    super(`${request}: HTTP ${code}${status ? `: ${status}` : ''}`);
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

/**
 * The API server gave no answer: it did not answer within the request's deadline (`timedOut`), or
 * it could not be reached. The message is one line that says which; the request may have landed.
 */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.timedOut = timedOut;
  }
}

/** The parts of a metav1.Status we read. */
export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: {
    name?: string;
    kind?: string;
    /** metav1.StatusCause: its Go field `Type` is `reason` on the wire. */
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

interface ApiErrorShape {
  code: number;
  body?: unknown;
  headers?: Record<string, string>;
}

function asApiError(err: unknown): ApiErrorShape | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  // A DOMException (an aborted or timed-out fetch) has a numeric `code` too: 23 is TimeoutError.
  if (err instanceof DOMException) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && code >= 100 && code <= 599 ? (err as ApiErrorShape) : undefined;
}

/** The HTTP status code of an API error, undefined for anything else (network errors, bugs). */
export function httpCode(err: unknown): number | undefined {
  return asApiError(err)?.code;
}

export function isNotFound(err: unknown): boolean {
  return httpCode(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return httpCode(err) === 409;
}

export function isTooManyRequests(err: unknown): boolean {
  return httpCode(err) === 429;
}

export function isForbidden(err: unknown): boolean {
  return httpCode(err) === 403;
}

/** The Status the API server sent with the error, if the body is one. */
export function apiStatus(err: unknown): ApiStatus | undefined {
  const body = asApiError(err)?.body;
  if (typeof body === 'object' && body !== null) return body as ApiStatus;
  if (typeof body !== 'string' || body === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as ApiStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the Status lists a cause of this type (`NamespaceTerminating`, `DisruptionBudget`), wire field `reason`. */
export function hasStatusCause(err: unknown, type: string): boolean {
  return apiStatus(err)?.details?.causes?.some((c) => c.reason === type) ?? false;
}

/**
 * How long the server asked us to wait, from the Retry-After header (seconds) or the Status's
 * retryAfterSeconds; undefined when it did not say. The server omits the header for 0.
 */
export function retryAfterMs(err: unknown): number | undefined {
  const header = asApiError(err)?.headers?.['retry-after'];
  if (header !== undefined && header.trim() !== '') {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header); // the HTTP-date form, which the API server does not send
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  const fromStatus = apiStatus(err)?.details?.retryAfterSeconds;
  return typeof fromStatus === 'number' && fromStatus > 0 ? fromStatus * 1000 : undefined;
}

/**
 * One readable line for a log or an Event: the Status message plus any cause that says more
 * (the PDB cause of a 429 names the budget), else the error's own first line.
 */
export function statusMessage(err: unknown): string {
  const status = apiStatus(err);
  const api = asApiError(err);
  if (status?.message) {
    const extra = (status.details?.causes ?? [])
      .map((c) => c.message)
      .filter((m): m is string => !!m && !status.message!.includes(m));
    return oneLine(extra.length > 0 ? `${status.message} (${extra.join('; ')})` : status.message);
  }
  if (api) {
    const body = typeof api.body === 'string' && api.body.trim() !== '' ? `: ${api.body}` : '';
    return oneLine(`HTTP ${api.code}${body}`);
  }
  if (err instanceof NoAnswerError) return oneLine(err.message);
  if (err instanceof Error && err.name === 'TimeoutError') {
    return 'the Kubernetes API server did not answer in time';
  }
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? err.name;
    // fetch() reports "fetch failed" and hides the reason (ECONNREFUSED, a bad certificate) in `cause`.
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    const hint = first === 'fetch failed' ? 'cannot reach the Kubernetes API server' : first;
    return oneLine(`${hint}${cause}`);
  }
  return oneLine(String(err));
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 500 ? `${flat.slice(0, 497)}...` : flat;
}
