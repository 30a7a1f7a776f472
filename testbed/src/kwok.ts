import fs from 'node:fs';
import path from 'node:path';
import { TestbedError } from './errors.ts';
import { type Component, startComponent } from './process.ts';
import { KUBELET_LIVENESS, type NodeLiveness } from './scale.ts';

/**
 * Nodes carrying this label are played by kwok. A label, not an annotation: the API server then filters
 * the watch, so removing it reaches kwok as a delete and cancels its pending heartbeats for that node.
 */
export const KWOK_LABEL = 'kwok.x-k8s.io/node';
export const KWOK_LABEL_VALUE = 'fake';

/** Starts kwok as the kubelet of every labelled Node: Ready + heartbeats + Lease, pods Running, deletes finalized. */
export function startKwok(
  bin: string,
  dir: string,
  opts: { kubeconfig: string; stages: string; liveness?: NodeLiveness },
): Component {
  const liveness = opts.liveness ?? KUBELET_LIVENESS;
  const stages = path.join(dir, 'kwok-stages.yaml');
  let docs = rebootAwareStages(fs.readFileSync(opts.stages, 'utf8'));
  if (liveness.heartbeatMs !== undefined) docs = heartbeatEvery(docs, liveness.heartbeatMs);
  fs.writeFileSync(stages, docs);
  return startComponent(
    'kwok',
    bin,
    [
      `--kubeconfig=${opts.kubeconfig}`,
      `--config=${stages}`,
      `--manage-nodes-with-label-selector=${KWOK_LABEL}=${KWOK_LABEL_VALUE}`,
      `--node-lease-duration-seconds=${liveness.leaseDurationSeconds}`,
      '--cidr=10.244.0.0/16',
    ],
    path.join(dir, 'logs', 'kwok.log'),
  );
}

const INITIAL_TRANSITION = '{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}';
const CONDITION_TRANSITION = 'lastTransitionTime: {{ $lastTransitionTime | Quote }}';
/** Keeps each condition's own lastTransitionTime across heartbeats (`$` is the Node being played). */
const KEPT_TRANSITION = `{{ $type := .type }}{{ $kept := $lastTransitionTime }}{{ range $.status.conditions }}{{ if eq .type $type }}{{ $kept = .lastTransitionTime }}{{ end }}{{ end }}
        lastTransitionTime: {{ $kept | Quote }}`;

/**
 * kwok's stages date every condition transition at the Node's creation. After a simulated reboot the
 * Ready transition must be the moment the node came back, and heartbeats must keep it.
 */
export function rebootAwareStages(upstream: string): string {
  const docs = upstream.split('\n---\n').map((doc) => {
    if (/name: node-initialize\n/.test(doc)) {
      return replaceOnce(doc, INITIAL_TRANSITION, '{{ $lastTransitionTime := $now }}');
    }
    if (/name: node-heartbeat-with-lease\n/.test(doc))
      return replaceOnce(doc, CONDITION_TRANSITION, KEPT_TRANSITION);
    return doc;
  });
  return docs.join('\n---\n');
}

/** The Node status heartbeat every `ms` (jitter as much again), instead of the stage's 10 min. */
export function heartbeatEvery(stages: string, ms: number): string {
  const delay = /(durationMilliseconds: )\d+(\s+jitterDurationMilliseconds: )\d+/;
  const docs = stages.split('\n---\n').map((doc) => {
    if (!/name: node-heartbeat-with-lease\n/.test(doc)) return doc;
    if (!delay.test(doc)) {
      throw new TestbedError(
        'testbed: the kwok heartbeat stage has no delay to lengthen; update heartbeatEvery',
      );
    }
    return doc.replace(delay, `$1${ms}$2${ms}`);
  });
  return docs.join('\n---\n');
}

function replaceOnce(doc: string, from: string, to: string): string {
  if (!doc.includes(from)) {
    throw new TestbedError(
      `testbed: the kwok stage templates changed upstream; update rebootAwareStages (${from})`,
    );
  }
  return doc.replace(from, to);
}
