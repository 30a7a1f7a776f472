import https from 'node:https';

export interface HttpResult {
  status: number;
  body: string;
}

/** A GET over TLS verified against the testbed CA; used before any client library is set up. */
export function httpsGet(
  url: string,
  opts: { ca: string; token?: string; timeoutMs?: number },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = opts.token ? { Authorization: `Bearer ${opts.token}` } : {};
    const req = https.get(url, { ca: opts.ca, headers, timeout: opts.timeoutMs ?? 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
    req.on('error', reject);
  });
}
