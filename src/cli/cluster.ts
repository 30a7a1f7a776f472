/**
 * One read of what the operator commands show: the agents' flags, the lock and a pause beside it,
 * and per node its cycle, since when it needs a reboot, and its recorded history.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Config } from '../core/config.ts';
import { CYCLE_ANNOTATION, type Cycle, parseCycle } from '../core/cycle.ts';
import { ConfigError } from '../core/errors.ts';
import { HISTORY_ANNOTATION, NEEDED_ANNOTATION, type ParsedHistory, parseHistory } from '../core/history.ts';
import { type LockValue, parseLock } from '../core/lock/codec.ts';
import { PAUSE_ANNOTATION, type ParsedPause, parsePause } from '../core/lock/pause.ts';
import type { NodeView } from '../core/ports.ts';
import { isNotFound } from '../kube/errors.ts';
import { viewNode } from '../kube/node.ts';
import { parseRequest, REQUEST_ANNOTATION } from '../reboot/request.ts';
import { agentsConfig, type KubeOptions, type OperatorClients, readAgentsDaemonSet } from './connect.ts';

export interface NodeFacts {
  view: NodeView;
  cycle: Cycle | undefined;
  /** RFC 3339, when the agent saw the reboot become needed; undefined: not needed. */
  neededSince: string | undefined;
  history: ParsedHistory;
}

export interface ClusterFacts {
  now: Date;
  agents: Config;
  lockDaemonSet: k8s.V1DaemonSet;
  lockRaw: string | undefined;
  lock: LockValue;
  pause: ParsedPause;
  nodes: NodeFacts[];
}

export async function readLockDaemonSet(
  c: OperatorClients,
  agents: Pick<Config, 'dsNamespace' | 'dsName'>,
): Promise<k8s.V1DaemonSet> {
  return c.apps
    .readNamespacedDaemonSet({ name: agents.dsName, namespace: agents.dsNamespace })
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      throw new ConfigError(
        `the lock DaemonSet ${agents.dsNamespace}/${agents.dsName} (--ds-namespace/--ds-name of the agents) does not exist`,
      );
    });
}

export async function readCluster(c: OperatorClients, o: KubeOptions): Promise<ClusterFacts> {
  const agents = agentsConfig(await readAgentsDaemonSet(c, o), o);
  const now = new Date();
  const [lockDaemonSet, nodeList] = await Promise.all([readLockDaemonSet(c, agents), c.core.listNode()]);
  const annotations = lockDaemonSet.metadata?.annotations ?? {};
  const lockRaw = annotations[agents.lockAnnotation];
  return {
    now,
    agents,
    lockDaemonSet,
    lockRaw,
    lock: parseLock(lockRaw),
    pause: parsePause(annotations[PAUSE_ANNOTATION]),
    nodes: nodeList.items
      .map(viewNode)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((view) => ({
        view,
        cycle: parseCycle(view.annotations[CYCLE_ANNOTATION], now),
        // A `kured-ts reboot` request its agent has not seen yet needs a reboot all the same.
        neededSince: view.annotations[NEEDED_ANNOTATION] ?? requestedAt(view.annotations[REQUEST_ANNOTATION]),
        history: parseHistory(view.annotations[HISTORY_ANNOTATION]),
      })),
  };
}

function requestedAt(raw: string | undefined): string | undefined {
  const r = parseRequest(raw);
  return r ? r.at || new Date().toISOString() : undefined;
}

/** The named node, or one line saying it does not exist. */
export function findNode(facts: ClusterFacts, name: string): NodeFacts {
  const node = facts.nodes.find((n) => n.view.name === name);
  if (!node)
    throw new ConfigError(
      `no node "${name}" in the cluster (${facts.nodes.length} nodes; kubectl get nodes lists them)`,
    );
  return node;
}
