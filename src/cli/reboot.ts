/**
 * `kured-ts reboot NODE`: asks that node's agent for a reboot (kured#110) by writing a request on
 * the Node, with nothing but `get` and `patch` on nodes. The agent goes through the lock, the drain
 * and the budgets as for a sentinel; --ignore-window and --ignore-alerts waive only those gates.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ConfigError } from '../core/errors.ts';
import { isNotFound } from '../kube/errors.ts';
import { parseRequest, REQUEST_ANNOTATION, type RebootRequest, serializeRequest } from '../reboot/request.ts';
import type { OperatorClients } from './connect.ts';

export interface RebootOptions {
  reason?: string;
  ignoreWindow?: boolean;
  ignoreAlerts?: boolean;
}

export function rebootRequest(opts: RebootOptions, now: Date): RebootRequest {
  return {
    at: now.toISOString().replace(/\.\d+Z$/, 'Z'),
    ...(opts.reason ? { reason: opts.reason } : {}),
    ...(opts.ignoreWindow ? { ignoreWindow: true } : {}),
    ...(opts.ignoreAlerts ? { ignoreAlerts: true } : {}),
  };
}

/** Writes the request on the Node; returns the line to print. */
export async function requestReboot(
  c: OperatorClients,
  node: string,
  opts: RebootOptions,
  now = new Date(),
): Promise<string> {
  const current = await c.core.readNode({ name: node }).catch((err: unknown) => {
    if (isNotFound(err))
      throw new ConfigError(`no node "${node}" in the cluster (kubectl get nodes lists them)`);
    throw err;
  });
  const before = parseRequest(current.metadata?.annotations?.[REQUEST_ANNOTATION]);
  const request = rebootRequest(opts, now);
  await c.core.patchNode(
    { name: node, body: { metadata: { annotations: { [REQUEST_ANNOTATION]: serializeRequest(request) } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const waived = [request.ignoreWindow ? 'the window' : '', request.ignoreAlerts ? 'the alerts' : '']
    .filter(Boolean)
    .join(' and ');
  return [
    `reboot of ${node} requested${before ? ' (replacing the request of '.concat(before.at || 'unknown time', ')') : ''}`,
    waived ? `; ${waived} waived` : '',
    `; its agent takes it through the lock, the drain and the budgets as always`,
    ` (an idle agent looks within its --reboot-request-period); kured-ts status shows its progress`,
  ].join('');
}
