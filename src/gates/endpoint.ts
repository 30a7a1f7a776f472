/**
 * An HTTP service the agent calls (Prometheus, Alertmanager, an approval hook), with the same
 * options for each: a bearer token or basic auth read from a file (re-read at each call, so a
 * rotated Secret is picked up), credentials in the URL sent as basic auth, and a custom CA. Its
 * flags are `--<name>-url`, `--<name>-bearer-token-file`, `--<name>-basic-auth-file`, `--<name>-ca-file`
 * (or, for the hooks, `--<name>-url` and the shared `--hook-*` files).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../core/errors.ts';
import { type RequestOptions, requestJson } from './http-get.ts';

export interface EndpointOptions {
  url: string;
  /** File holding a bearer token. */
  bearerTokenFile?: string | undefined;
  /** File holding `user:password` on its first line. */
  basicAuthFile?: string | undefined;
  /** PEM file of the CA(s) that sign the server's certificate. */
  caFile?: string | undefined;
  timeoutMs?: number;
}

/** The flags' names, for messages. */
export interface EndpointFlags {
  url: string;
  bearerTokenFile: string;
  basicAuthFile: string;
  caFile: string;
  /** e.g. http://alertmanager:9093 */
  example: string;
}

export function flagsFor(name: string, example: string): EndpointFlags {
  return {
    url: `--${name}-url`,
    bearerTokenFile: `--${name}-bearer-token-file`,
    basicAuthFile: `--${name}-basic-auth-file`,
    caFile: `--${name}-ca-file`,
    example,
  };
}

export class Endpoint {
  readonly base: URL;
  /** The URL without credentials, for messages. */
  readonly display: string;
  private readonly userinfo: string | undefined;
  private readonly ca: string | undefined;
  private readonly opts: EndpointOptions;
  private readonly flags: EndpointFlags;

  /** Throws ConfigError on a bad URL or an unreadable credential file (checked once at startup). */
  constructor(opts: EndpointOptions, flags: EndpointFlags, keepPath = false) {
    this.opts = opts;
    this.flags = flags;
    const parsed = parseServiceUrl(opts.url, flags, keepPath);
    this.base = parsed.base;
    this.userinfo = parsed.userinfo;
    this.display = parsed.display;
    if (opts.bearerTokenFile && opts.basicAuthFile) {
      throw new ConfigError(
        `${flags.bearerTokenFile} and ${flags.basicAuthFile} are both set; keep only one`,
      );
    }
    if (opts.bearerTokenFile) readSecretSync(opts.bearerTokenFile, flags.bearerTokenFile);
    if (opts.basicAuthFile)
      basicAuthHeader(readSecretSync(opts.basicAuthFile, flags.basicAuthFile), flags.basicAuthFile);
    this.ca = opts.caFile ? readSecretSync(opts.caFile, flags.caFile) : undefined;
  }

  /** A path below the base (e.g. `api/v2/alerts`). */
  url(path: string): URL {
    return new URL(path, this.base);
  }

  /** One call; rejects when there is no answer (refused, timed out, TLS). */
  async call(
    url: URL,
    method: RequestOptions['method'],
    json?: unknown,
  ): Promise<{ status: number; body: unknown; text: string }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const auth = await this.authorization();
    if (auth) headers.authorization = auth;
    return requestJson(url, {
      method,
      headers,
      ...(this.ca ? { ca: this.ca } : {}),
      ...(json === undefined ? {} : { json }),
      timeoutMs: this.opts.timeoutMs ?? 10_000,
    });
  }

  private async authorization(): Promise<string | undefined> {
    const { bearerTokenFile, basicAuthFile } = this.opts;
    if (bearerTokenFile) return `Bearer ${(await readSecret(bearerTokenFile)).trim()}`;
    if (basicAuthFile) return basicAuthHeader(await readSecret(basicAuthFile), this.flags.basicAuthFile);
    if (this.userinfo) return `Basic ${Buffer.from(this.userinfo).toString('base64')}`;
    return undefined;
  }
}

/** The base URL, credentials taken out of it (sent as a header instead), and a loggable form. */
export function parseServiceUrl(
  raw: string,
  flags: Pick<EndpointFlags, 'url' | 'example'>,
  keepPath = false,
): { base: URL; userinfo: string | undefined; display: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${flags.url}: "${redactUrl(raw)}" is not a URL; use e.g. ${flags.example}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${flags.url}: scheme ${url.protocol} is not supported; use http:// or https://`);
  }
  const userinfo = url.username
    ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
    : undefined;
  url.username = '';
  url.password = '';
  url.hash = '';
  // A service's base keeps its path prefix as a directory; a hook's URL is called as it is.
  if (!keepPath) {
    url.search = '';
    if (!url.pathname.endsWith('/')) url.pathname += '/';
  }
  return { base: url, userinfo, display: url.href };
}

/** `user:password` on the first line; the password may itself contain colons. */
function basicAuthHeader(content: string, flag: string): string {
  const line = content.split(/\r?\n/)[0] ?? '';
  if (!line.includes(':')) throw new ConfigError(`${flag}: expected "user:password" on the first line`);
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
export function describeError(err: unknown): string {
  let e = err as { message?: string; cause?: unknown; code?: string } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return e?.message ?? String(err);
}

/** Drops user and password from a URL-ish string for messages. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/[^/@]*@/, '//');
}
