import path from 'node:path';
import type { Pki } from './pki.ts';
import { type Component, startComponent } from './process.ts';
import { qpsArgs } from './scale.ts';

/**
 * The controllers kured's behaviour depends on: the workload controllers (evicted pods come back,
 * elsewhere), PDB status (disruption), pod and namespace cleanup, and ServiceAccounts with their tokens
 * and CA bundle. Not node-lifecycle: it would taint and evict pods of nodes the testbed takes down on
 * purpose.
 */
export const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'disruption-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'pod-garbage-collector-controller',
];

/**
 * kube-controller-manager as `system:kube-controller-manager`; each controller then runs as its own
 * ServiceAccount in kube-system (`--use-service-account-credentials`, tokens from the TokenRequest
 * API) with the `system:controller:*` roles the API server bootstraps, as on a real cluster.
 */
export function startControllerManager(
  bin: string,
  dir: string,
  opts: { kubeconfig: string; pki: Pki; nodes: number },
): Component {
  return startComponent(
    'kube-controller-manager',
    bin,
    [
      `--kubeconfig=${opts.kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      // No health/metrics port: readiness is observed through the API (the `default` ServiceAccount).
      '--secure-port=0',
      `--controllers=${CONTROLLERS.join(',')}`,
      `--service-account-private-key-file=${opts.pki.serviceAccountKeyFile}`,
      `--root-ca-file=${opts.pki.caFile}`,
      '--use-service-account-credentials=true',
      '--profiling=false',
      ...qpsArgs(opts.nodes),
    ],
    path.join(dir, 'logs', 'kube-controller-manager.log'),
  );
}
