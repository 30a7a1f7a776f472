import fs from 'node:fs';
import path from 'node:path';
import type { Etcd } from './etcd.ts';
import { httpsGet } from './http.ts';
import type { Pki } from './pki.ts';
import { freePort, listensOn } from './ports.ts';
import { type Component, exitedMessage, logTail, startComponent } from './process.ts';
import { pollUntil } from './wait.ts';

export interface ApiServer {
  component: Component;
  port: number;
  /** https://127.0.0.1:<port> */
  server: string;
}

export interface StaticToken {
  token: string;
  user: string;
  groups: string[];
}

/** The service-account issuer; also the default audience of TokenRequest tokens. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Writes the `--token-auth-file` (token,user,uid,"groups"). */
export function writeTokenFile(file: string, tokens: StaticToken[]): void {
  const lines = tokens.map((t) => `${t.token},${t.user},${t.user},"${t.groups.join(',')}"`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

/** Starts kube-apiserver on 127.0.0.1 with TLS, static-token authentication, RBAC and ServiceAccount signing. */
export async function startApiServer(
  bin: string,
  dir: string,
  opts: { etcdUrl: string; pki: Pki; tokenFile: string },
): Promise<ApiServer> {
  const port = await freePort();
  const component = startComponent(
    'kube-apiserver',
    bin,
    [
      `--etcd-servers=${opts.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${path.join(dir, 'pki')}`,
      `--tls-cert-file=${opts.pki.certFile}`,
      `--tls-private-key-file=${opts.pki.keyFile}`,
      `--token-auth-file=${opts.tokenFile}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${opts.pki.serviceAccountKeyFile}`,
      `--service-account-signing-key-file=${opts.pki.serviceAccountKeyFile}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // No real host IP to publish for the `kubernetes` Service.
      '--endpoint-reconciler-type=none',
      // Its taint is removed by the node-lifecycle controller, which does not run here (kwok fakes kubelets).
      '--disable-admission-plugins=TaintNodesByCondition',
      // Flow control only adds start-up work for a single-user test cluster.
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      ...auditArgs(dir),
    ],
    path.join(dir, 'logs', 'kube-apiserver.log'),
  );
  return { component, port, server: `https://127.0.0.1:${port}` };
}

/**
 * TESTBED_AUDIT=<file>: kube-apiserver logs every request to that file (it outlives the cluster),
 * writes with their body: the benchmarks count requests, this says who made each and why.
 */
function auditArgs(dir: string): string[] {
  if (!process.env.TESTBED_AUDIT) return [];
  const log = path.resolve(process.env.TESTBED_AUDIT);
  const policy = path.join(dir, 'audit-policy.yaml');
  fs.writeFileSync(
    policy,
    [
      'apiVersion: audit.k8s.io/v1',
      'kind: Policy',
      'omitStages: [RequestReceived]',
      'rules:',
      '- level: Request',
      '  verbs: [create, update, patch, delete]',
      '- level: Metadata',
    ].join('\n'),
  );
  return [`--audit-policy-file=${policy}`, `--audit-log-path=${log}`];
}

/** Resolves once this API server answers /readyz with 200 (etcd reachable, bootstrap done). */
export async function waitApiServer(
  api: ApiServer,
  opts: { pki: Pki; token: string; etcd: Etcd },
): Promise<void> {
  const ca = fs.readFileSync(opts.pki.caFile, 'utf8');
  const timeoutMs = 60_000;
  await pollUntil(
    async () => {
      const res = await httpsGet(`${api.server}/readyz`, { ca, token: opts.token, timeoutMs: 1000 });
      return res.status === 200 && listensOn(api.component.pid, api.port);
    },
    {
      timeoutMs,
      intervalMs: 100,
      describe: () =>
        `testbed: kube-apiserver not ready after ${timeoutMs / 1000}s:\n${logTail(api.component.logFile)}`,
      abort: () => exitedMessage(api.component) ?? exitedMessage(opts.etcd.component),
    },
  );
}
