/** The HTTP endpoint for Prometheus and the kubelet: /metrics, /healthz, /readyz. */
import { createServer } from 'node:http';
import type { Registry } from 'prom-client';
import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface ObserveServerOptions {
  /** Empty = all interfaces, like kured's --metrics-host. */
  host: string;
  /** 0 = an ephemeral port (tests). */
  port: number;
  registry: Registry;
  /** /readyz answers 200 once this is true (the agent has synced with the cluster). */
  ready: () => boolean;
  /** /healthz answers 200 while this is true; default: while the process answers at all. */
  alive?: () => boolean;
  logger: Logger;
}

export interface ObserveServer {
  port: number;
  close(): Promise<void>;
}

export async function startObserveServer(opts: ObserveServerOptions): Promise<ObserveServer> {
  const alive = opts.alive ?? (() => true);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'method not allowed\n');
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => answer(200, text, opts.registry.contentType),
        (err: unknown) => {
          opts.logger.warn({ error: String(err) }, 'collecting metrics failed');
          answer(500, 'collecting metrics failed\n');
        },
      );
      return;
    }
    if (path === '/healthz') return alive() ? answer(200, 'ok\n') : answer(503, 'agent loop stalled\n');
    if (path === '/readyz') return opts.ready() ? answer(200, 'ok\n') : answer(503, 'not ready\n');
    answer(404, 'not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${opts.host || '*'}:${opts.port}`;
      reject(
        err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES'
          ? new ConfigError(
              `--metrics-host/--metrics-port: cannot listen on ${where} (${err.code}); choose another address or port`,
            )
          : err,
      );
    });
    // An empty host listens on every interface, as Go's ListenAndServe(":8080") does.
    server.listen(opts.port, opts.host || undefined, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  opts.logger.info({ host: opts.host || '*', port }, 'serving /metrics, /healthz and /readyz');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
