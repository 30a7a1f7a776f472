import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './cluster.ts';
import type { DirState } from './stale.ts';

/**
 * An API server outage: the kube-apiserver process is frozen (SIGSTOP), so clients see their
 * requests hang and time out as with a control plane that is down, then thawed (SIGCONT).
 * Freezing keeps its port and state, so the cluster comes back exactly as it was.
 */
export async function withApiServerDown<T>(cluster: Cluster, body: () => Promise<T>): Promise<T> {
  const state = JSON.parse(readFileSync(join(cluster.dir, 'state.json'), 'utf8')) as DirState;
  const pid = state.components['kube-apiserver'];
  if (!pid) throw new Error('testbed: no kube-apiserver pid in the cluster state');
  process.kill(pid, 'SIGSTOP');
  try {
    return await body();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}
