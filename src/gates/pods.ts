/**
 * The blocking-pod gate (--blocking-pod-selector, repeatable): any running pod on this node that
 * matches any selector holds the reboot back, as in kured. A failed list also blocks (fail closed).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Gate, GateVerdict } from '../core/ports.ts';
import { type Kube, paths } from '../kube/client.ts';
import { statusMessage } from '../kube/errors.ts';

export interface PodRef {
  namespace: string;
  name: string;
}
/** Lists the pods matching a label selector and a field selector, at most `limit`. */
export type PodLister = (labelSelector: string, fieldSelector: string, limit: number) => Promise<PodRef[]>;

const LIMIT = 10;

/** Pods still holding resources: kured skips the terminal phases. */
export function podFieldSelector(nodeName: string): string {
  return `spec.nodeName=${nodeName},status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown`;
}

export function podsGate(kube: Kube, nodeName: string, selectors: string[]): Gate {
  const list: PodLister = async (labelSelector, fieldSelector, limit) => {
    const pods = await kube.list<V1Pod>(paths.pods, { labelSelector, fieldSelector, limit });
    return pods.items.map((p) => ({ namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '' }));
  };
  return podsGateWith(list, nodeName, selectors);
}

/** The gate over any lister: selectors are checked in order and the first that matches wins. */
export function podsGateWith(list: PodLister, nodeName: string, selectors: string[]): Gate {
  const fieldSelector = podFieldSelector(nodeName);
  return {
    name: 'pods',
    async check(): Promise<GateVerdict> {
      for (const selector of selectors) {
        let pods: PodRef[];
        try {
          pods = await list(selector, fieldSelector, LIMIT);
        } catch (err) {
          return { open: false, reason: `cannot list pods matching "${selector}" (${statusMessage(err)})` };
        }
        if (pods.length > 0) return { open: false, reason: blockingPodsReason(selector, pods) };
      }
      return { open: true };
    },
  };
}

export function blockingPodsReason(selector: string, pods: PodRef[]): string {
  const names = pods.map((p) => `${p.namespace}/${p.name}`).join(', ');
  const more = pods.length >= LIMIT ? ' and maybe more' : '';
  return `pod${pods.length === 1 ? '' : 's'} matching "${selector}" on this node: ${names}${more}`;
}
