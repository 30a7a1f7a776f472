/** The testbed library: a real local control plane with simulated nodes, for e2e tests and the demo. */
export { type Binaries, ensureBinaries } from './build.ts';
export { Cluster, isApiStatus, type StartClusterOptions, startCluster } from './cluster.ts';
export { TestbedError } from './errors.ts';
export { REBOOT_SIGNAL } from './hosts.ts';
export type { NodeObservation } from './node-history.ts';
export { ZONE_LABEL } from './nodes.ts';
export type { AgentHooks, RebootCause } from './reboot.ts';
export { cleanupStaleClusters } from './stale.ts';
export { pollUntil } from './wait.ts';
