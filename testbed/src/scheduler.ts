import path from 'node:path';
import { type Component, startComponent } from './process.ts';
import { qpsArgs } from './scale.ts';

/**
 * kube-scheduler as `system:kube-scheduler` (the API server bootstraps its RBAC): binds the pods that
 * the workload controllers create, respecting cordons and DaemonSet node affinity.
 */
export function startScheduler(
  bin: string,
  dir: string,
  opts: { kubeconfig: string; nodes: number },
): Component {
  return startComponent(
    'kube-scheduler',
    bin,
    [
      `--kubeconfig=${opts.kubeconfig}`,
      '--leader-elect=false',
      // No health/metrics port; readiness shows as pods getting bound.
      '--secure-port=0',
      '--profiling=false',
      ...qpsArgs(opts.nodes),
    ],
    path.join(dir, 'logs', 'kube-scheduler.log'),
  );
}
