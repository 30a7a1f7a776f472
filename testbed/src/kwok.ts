import path from 'node:path';
import { type Component, startComponent } from './process.ts';

/**
 * Nodes carrying this label are played by kwok. A label, not an annotation: the API server then filters
 * the watch, so removing it reaches kwok as a delete and cancels its pending heartbeats for that node.
 */
export const KWOK_LABEL = 'kwok.x-k8s.io/node';
export const KWOK_LABEL_VALUE = 'fake';

/** Starts kwok as the kubelet of every labelled Node: Ready + heartbeats + Lease, pods Running, deletes finalized. */
export function startKwok(bin: string, dir: string, opts: { kubeconfig: string; stages: string }): Component {
  return startComponent(
    'kwok',
    bin,
    [
      `--kubeconfig=${opts.kubeconfig}`,
      `--config=${opts.stages}`,
      `--manage-nodes-with-label-selector=${KWOK_LABEL}=${KWOK_LABEL_VALUE}`,
      '--node-lease-duration-seconds=40',
      '--cidr=10.244.0.0/16',
    ],
    path.join(dir, 'logs', 'kwok.log'),
  );
}
