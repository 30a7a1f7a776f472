/**
 * One GET over node:http(s) with an optional CA and a deadline, its body parsed as JSON. The
 * Prometheus gate's only HTTP need: node's own client, where undici cost the agent ~6 MB even
 * unevaluated in the bundle (bench/idle.ts).
 */
import http from 'node:http';
import https from 'node:https';

export interface GetOptions {
  headers: Record<string, string>;
  /** PEM of the CA(s) that sign the server's certificate (default: Node's). */
  ca?: string;
  timeoutMs: number;
}

/** Resolves with the status and the body (parsed JSON, or undefined when it is not JSON); rejects on no answer. */
export function getJson(url: URL, opts: GetOptions): Promise<{ status: number; body: unknown }> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { headers: opts.headers, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    const timer = setTimeout(() => {
      const err = new Error('timed out');
      err.name = 'TimeoutError';
      req.destroy(err);
    }, opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

export interface RequestOptions extends GetOptions {
  method: 'GET' | 'POST' | 'DELETE';
  /** Sent as JSON. */
  json?: unknown;
}

/** Any method, a JSON body; resolves with the status, the body parsed (or undefined) and its text. */
export function requestJson(
  url: URL,
  opts: RequestOptions,
): Promise<{ status: number; body: unknown; text: string }> {
  const client = url.protocol === 'https:' ? https : http;
  const payload = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
  const headers = {
    ...opts.headers,
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      { method: opts.method, headers, ...(opts.ca ? { ca: opts.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
      },
    );
    const timer = setTimeout(() => {
      const err = new Error('timed out');
      err.name = 'TimeoutError';
      req.destroy(err);
    }, opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}
