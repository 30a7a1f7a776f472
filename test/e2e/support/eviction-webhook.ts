/**
 * A real validating admission webhook for the testbed: an HTTPS server on 127.0.0.1 that the
 * kube-apiserver calls for each eviction (CREATE of pods/eviction) in one namespace, registered with a
 * ValidatingWebhookConfiguration whose caBundle is the testbed's CA. It denies the eviction of a
 * chosen pod a set number of times (as Strimzi's Drain Cleaner denies a broker's), then allows it.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { type Cluster, pollUntil } from '../../../testbed/src/index.ts';

export const DENIAL = 'the operator moves this broker itself; try again later';
const PROBE = 'webhook-probe';

interface AdmissionReview {
  request?: { uid: string; name?: string; namespace?: string; dryRun?: boolean };
}

export interface EvictionWebhook {
  readonly name: string;
  /** Denials still to give to the target pod; Infinity denies until set otherwise. */
  denialsLeft: number;
  /** Evictions of the target pod the webhook saw: denied, then allowed. */
  readonly denied: number;
  readonly allowed: number;
  stop(): Promise<void>;
}

/**
 * Starts the webhook for evictions of `pod` in `namespace` and waits until the API server calls it
 * (the configuration reaches the API server's admission chain a moment after it is created).
 */
export async function startEvictionWebhook(
  cluster: Cluster,
  namespace: string,
  pod: string,
  denials: number,
  /** The code the webhook denies with; none: the API server answers 403. */
  code?: number,
): Promise<EvictionWebhook> {
  // The testbed's serving certificate names 127.0.0.1 and is signed by its CA: the API server trusts it.
  const pki = dirname(cluster.caFile);
  let probed = false;
  const state = {
    name: `deny-eviction.${namespace}.kured-ts.test`,
    denialsLeft: denials,
    denied: 0,
    allowed: 0,
  };
  const server: Server = createServer(
    { cert: readFileSync(join(pki, 'apiserver.crt')), key: readFileSync(join(pki, 'apiserver.key')) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString()) as AdmissionReview;
        const r = review.request!;
        let allowed = true;
        if (r.name === PROBE) {
          probed = true;
          allowed = false;
        } else if (r.name === pod && !r.dryRun) {
          allowed = state.denialsLeft <= 0;
          if (allowed) state.allowed++;
          else {
            state.denialsLeft--;
            state.denied++;
          }
        }
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            // The API server prefixes the webhook's name to the message; without a code it answers 403.
            response: {
              uid: r.uid,
              allowed,
              ...(allowed ? {} : { status: { message: DENIAL, ...(code ? { code } : {}) } }),
            },
          }),
        );
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const kc = cluster.kubeConfig();
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: state.name },
      webhooks: [
        {
          name: state.name,
          clientConfig: {
            url: `https://127.0.0.1:${port}/validate`,
            caBundle: readFileSync(cluster.caFile).toString('base64'),
          },
          rules: [
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['pods/eviction'],
              scope: 'Namespaced',
            },
          ],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
        },
      ],
    },
  });
  // A dry-run eviction of a pod that need not exist reaches the webhook once it is in the chain.
  const core = kc.makeApiClient(CoreV1Api);
  await pollUntil(
    async () => {
      await core
        .createNamespacedPodEviction({
          name: PROBE,
          namespace,
          dryRun: 'All',
          body: { metadata: { name: PROBE, namespace } },
        })
        .catch(() => undefined);
      return probed;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 300,
      describe: () => 'the API server never called the eviction webhook',
    },
  );
  return {
    get name() {
      return state.name;
    },
    get denialsLeft() {
      return state.denialsLeft;
    },
    set denialsLeft(n: number) {
      state.denialsLeft = n;
    },
    get denied() {
      return state.denied;
    },
    get allowed() {
      return state.allowed;
    },
    async stop() {
      await admission.deleteValidatingWebhookConfiguration({ name: state.name }).catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
