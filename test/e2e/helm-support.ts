/** What the chart end-to-end tests share: running the installed chart's DaemonSet as agents. */
import { Fleet } from '../../testbed/src/fleet.ts';
import type { Cluster } from '../../testbed/src/index.ts';
import { find, type Obj } from '../unit/deploy/render.ts';
import { CYCLE, nodeState, waitFor } from './support/scenario.ts';

/** Flags the testbed's Fleet sets per simulated host, or that would clash between agents on one host. */
const HOST_SPECIFIC = /^--(reboot-sentinel|reboot-command|metrics-port|log-format)=/;

/** The chart DaemonSet's container args. */
export function chartArgs(rendered: Obj[]): string[] {
  return find(rendered, 'DaemonSet').spec.template.spec.containers[0].args;
}

/** Agents run with the chart DaemonSet's own args (minus what is per simulated host) and a kubeconfig. */
export function fleetFromChart(cluster: Cluster, rendered: Obj[], kubeconfig: string): Fleet {
  const args = chartArgs(rendered);
  const value = (flag: string) => args.find((a) => a.startsWith(`--${flag}=`))!.split('=')[1]!;
  return new Fleet(cluster, {
    dsName: value('ds-name'),
    dsNamespace: value('ds-namespace'),
    kubeconfig,
    args: args.filter((a) => !HOST_SPECIFIC.test(a)),
  });
}

/** The node went through `reboots` reboots in all, is Ready and schedulable, its cycle over. */
export async function settled(
  cluster: Cluster,
  node: string,
  reboots: number,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `${node} rebooted ${reboots} time(s), Ready, uncordoned, cycle over`,
    async () => {
      const s = await nodeState(cluster, node);
      return cluster.rebootCount(node) === reboots && s.ready && !s.unschedulable && !s.annotations[CYCLE];
    },
    timeoutMs,
  );
}
