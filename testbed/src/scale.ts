/**
 * What a testbed's size changes: its waits and the control plane's own client rates. A wait that
 * suits 5 nodes (30 s for every DaemonSet pod to be Ready) says nothing at 1,000 or 5,000 nodes,
 * where the controllers create, bind and start thousands of pods on a shared 2-core machine: each
 * fixed timeout is a base plus a share per node.
 */

/** `baseMs` for up to 100 nodes, plus `perNodeMs` for every node beyond. */
export function scaledTimeoutMs(baseMs: number, nodes: number, perNodeMs: number): number {
  return baseMs + Math.max(0, nodes - 100) * perNodeMs;
}

/**
 * kube-controller-manager's and kube-scheduler's client rate (--kube-api-qps / --kube-api-burst):
 * their defaults (20 and 50 requests/s) are for a real cluster's steady state; at 1,000 nodes the
 * DaemonSet controller would take a minute to create its pods and longer to record their status.
 * Undefined: keep the defaults (every size an e2e test uses).
 */
export function controlPlaneQps(nodes: number): { qps: number; burst: number } | undefined {
  if (nodes <= 200) return undefined;
  return { qps: 200, burst: 400 };
}

/** Flags for controlPlaneQps. */
export function qpsArgs(nodes: number): string[] {
  const q = controlPlaneQps(nodes);
  return q ? [`--kube-api-qps=${q.qps}`, `--kube-api-burst=${q.burst}`] : [];
}

/**
 * How the simulated nodes keep themselves alive (kwok's Lease renewals and Node status heartbeats).
 * The defaults are a kubelet's (a 40 s Lease renewed every 10 s); a benchmark of thousands of
 * nodes lengthens them so that the API server's work is the agents', not 5,000 kubelets'
 * heartbeats (5,000 Leases renewed every 10 s would be 500 writes/s). Nothing here reads them:
 * the node-lifecycle controller, which would mark a node with a stale Lease NotReady, does not run.
 */
export interface NodeLiveness {
  /** kwok's --node-lease-duration-seconds; it renews each Lease at a quarter of it. */
  leaseDurationSeconds: number;
  /** The Node status heartbeat's interval and jitter (ms); undefined: kwok's stage as shipped. */
  heartbeatMs?: number;
}

export const KUBELET_LIVENESS: NodeLiveness = { leaseDurationSeconds: 40 };

/** For benchmarks at scale: a Lease renewed every 15 min, a status heartbeat every 30 min. */
export const QUIET_LIVENESS: NodeLiveness = { leaseDurationSeconds: 3600, heartbeatMs: 1_800_000 };
