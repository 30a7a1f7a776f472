/**
 * The operator commands' view of the cluster, with kubectl's habits: --kubeconfig, --context and
 * -n/--namespace for the agents' DaemonSet. They run on an operator's machine, so they use
 * @kubernetes/client-node directly; the agents' flags are read from that DaemonSet's pod template,
 * so `plan` judges with exactly the flags the agents run with.
 */
import * as k8s from '@kubernetes/client-node';
import { parseConfig } from '../config/parse.ts';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { connect, type Kube } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  /** Namespace of the agents' DaemonSet. */
  namespace: string;
  /** Name of the agents' DaemonSet. */
  dsName: string;
}

export interface OperatorClients {
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  events: k8s.EventsV1Api;
  policy: k8s.PolicyV1Api;
  auth: k8s.AuthenticationV1Api;
  /** The agents' own client, for the gates `plan` shares with them. */
  kube: Kube;
}

export function connectOperator(o: KubeOptions): OperatorClients {
  const config = new k8s.KubeConfig();
  try {
    if (o.kubeconfig) config.loadFromFile(o.kubeconfig);
    else config.loadFromDefault();
  } catch (err) {
    throw new ConfigError(`cannot read the kubeconfig ${o.kubeconfig ?? ''}: ${(err as Error).message}`);
  }
  if (o.context) {
    if (!config.getContextObject(o.context)) {
      const known = config.getContexts().map((c) => c.name);
      throw new ConfigError(
        `--context: no context "${o.context}" in the kubeconfig (known: ${known.join(', ') || 'none'})`,
      );
    }
    config.setCurrentContext(o.context);
  }
  if (!config.getCurrentCluster())
    throw new ConfigError('the kubeconfig has no current cluster; pass --kubeconfig or --context');
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    events: config.makeApiClient(k8s.EventsV1Api),
    policy: config.makeApiClient(k8s.PolicyV1Api),
    auth: config.makeApiClient(k8s.AuthenticationV1Api),
    kube: connect(
      o.kubeconfig ? { ...process.env, KUBECONFIG: o.kubeconfig } : process.env,
      o.context ? { context: o.context } : {},
    ),
  };
}

/** The agents' DaemonSet; a clear line when it is not there. */
export async function readAgentsDaemonSet(c: OperatorClients, o: KubeOptions): Promise<k8s.V1DaemonSet> {
  return c.apps.readNamespacedDaemonSet({ name: o.dsName, namespace: o.namespace }).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
    throw new ConfigError(
      `no DaemonSet ${o.namespace}/${o.dsName}: pass the agents' DaemonSet with -n NAMESPACE and --ds-name NAME`,
    );
  });
}

/**
 * The agents' configuration from the DaemonSet's container (its args and plain env values). A
 * DaemonSet that is only a lock holder (no flags) gives kured's defaults, with the lock on itself.
 */
export function agentsConfig(ds: k8s.V1DaemonSet, o: KubeOptions): Config {
  const containers = ds.spec?.template?.spec?.containers ?? [];
  const c = containers.find((x) => (x.args ?? []).some((a) => a.startsWith('--'))) ?? containers[0];
  const args = (c?.args ?? []).filter((a) => a.startsWith('--'));
  const env: Record<string, string> = {};
  for (const e of c?.env ?? [])
    if (e.value !== undefined && e.name.startsWith('KURED_')) env[e.name] = e.value;
  const hasLock = args.some((a) => /^--ds-(name|namespace)[= ]/.test(a)) || env.KURED_DS_NAME !== undefined;
  try {
    const config = parseConfig(args, { ...env, KURED_NODE_ID: '-' });
    // Without lock flags the DaemonSet we were pointed at is the lock's (kured's chart passes them).
    return hasLock ? config : { ...config, dsNamespace: o.namespace, dsName: o.dsName };
  } catch (err) {
    throw new ConfigError(
      `cannot read the agents' flags from DaemonSet ${o.namespace}/${o.dsName}: ${(err as Error).message}`,
    );
  }
}

/** Who is calling, as the API server knows them (SelfSubjectReview), else the kubeconfig's user. */
export async function whoAmI(c: OperatorClients): Promise<string> {
  try {
    const review = await c.auth.createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    const name = review.status?.userInfo?.username;
    if (name) return name;
  } catch {
    // older API servers, or the review is not allowed: fall back below
  }
  return c.config.getCurrentUser()?.name ?? 'unknown';
}
