/**
 * A recording proxy in front of the testbed's API server: the agents talk to it, it forwards every
 * request and notes which RBAC verb on which resource it needed and whether it was refused (403).
 * The testbed's API server has no audit log; this is the audit log of the agents alone.
 */
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface AuditEntry {
  /** RBAC form: `<group or core> <resource[/subresource]> <verb>`, e.g. `core pods/eviction create`. */
  grant: string;
  namespace: string | undefined;
  status: number;
}

/** The RBAC attributes of a request, as the API server's authorizer computes them. */
export function rbacAttributes(
  method: string,
  url: string,
): { grant: string; namespace: string | undefined } {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/').filter(Boolean);
  let rest: string[];
  let group: string;
  if (parts[0] === 'api') {
    group = 'core';
    rest = parts.slice(2);
  } else {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, sub] = rest;
  const watch = ['true', '1'].includes(u.searchParams.get('watch') ?? '');
  const verb =
    {
      GET: name ? 'get' : watch ? 'watch' : 'list',
      POST: 'create',
      PATCH: 'patch',
      PUT: 'update',
      DELETE: name ? 'delete' : 'deletecollection',
    }[method] ?? method.toLowerCase();
  return { grant: `${group} ${resource}${sub ? `/${sub}` : ''} ${verb}`, namespace };
}

export class AuditProxy {
  readonly entries: AuditEntry[] = [];
  /** Watches the agents hold open through the proxy right now, by URL. */
  readonly watches = new Map<string, number>();
  get openWatches(): number {
    return [...this.watches.values()].reduce((a, b) => a + b, 0);
  }
  private readonly server: https.Server;
  private readonly upstream: URL;
  private readonly ca: Buffer;

  /**
   * TLS on both sides (the Kubernetes client refuses plain HTTP): the proxy serves with a
   * certificate for 127.0.0.1 signed by the CA the agents trust, e.g. the API server's own.
   */
  constructor(apiServer: string, tls: { caFile: string; certFile: string; keyFile: string }) {
    this.upstream = new URL(apiServer);
    this.ca = fs.readFileSync(tls.caFile);
    this.server = https.createServer(
      { cert: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile) },
      (req, res) => this.forward(req, res),
    );
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Distinct grants the API server authorized for the agents, sorted. Any status but 401/403 means
   * authorization passed: a 404 on a pod already gone or a 409 conflict still used the grant.
   */
  used(): string[] {
    return [
      ...new Set(
        this.entries
          // Every authenticated user may ask what it may do (system:basic-user): no grant is used.
          .filter((e) => e.status !== 401 && e.status !== 403 && e.grant !== SELF_REVIEW)
          .map((e) => e.grant),
      ),
    ].sort();
  }

  /** Distinct grants the API server refused the agents (403), sorted. */
  refused(): string[] {
    return [...new Set(this.entries.filter((e) => e.status === 403).map((e) => e.grant))].sort();
  }

  /**
   * Requests answered with an error other than refused, not found or conflict (which an agent
   * meets normally: a pod already gone, a lock taken meanwhile), as `<grant> <status>`, sorted.
   */
  failed(): string[] {
    const normal = new Set([401, 403, 404, 409]);
    return [
      ...new Set(
        this.entries
          .filter((e) => e.status >= 400 && !normal.has(e.status))
          .map((e) => `${e.grant} ${e.status}`),
      ),
    ].sort();
  }

  clear(): void {
    this.entries.length = 0;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const up = https.request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: this.upstream.host },
        ca: this.ca,
      },
      (upRes) => {
        this.entries.push({
          ...rbacAttributes(req.method ?? 'GET', req.url ?? '/'),
          status: upRes.statusCode ?? 0,
        });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    const watch = rbacAttributes(req.method ?? 'GET', req.url ?? '/').grant.endsWith(' watch');
    const url = (req.url ?? '').split('&timeoutSeconds')[0] ?? '';
    if (watch) this.watches.set(url, (this.watches.get(url) ?? 0) + 1);
    // An agent stopping mid-watch closes its side: end the upstream watch too.
    res.on('close', () => {
      if (watch) this.watches.set(url, (this.watches.get(url) ?? 1) - 1);
      up.destroy();
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }
}

/** The agent's start-up question of what it may do (src/kube/grants.ts). */
const SELF_REVIEW = 'authorization.k8s.io selfsubjectaccessreviews create';
