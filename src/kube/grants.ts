/**
 * What the agent may do beyond kured 1.23's own RBAC (nodes get/patch, pods get/list/delete,
 * pods/eviction create, daemonsets get, update on its own DaemonSet), asked once at start-up with
 * SelfSubjectAccessReviews (which every authenticated user may create). A capability whose grant is
 * missing is turned off with one warning naming the grant, and the agent falls back to what kured
 * does: a fleet installed with kured's RBAC (or an older chart's) still reboots, one node at a time.
 */
import type { Kube } from './client.ts';

export interface Grants {
  /** `create`, `list`, `deletecollection` of Leases beside the lock: the waiting line (src/kube/line.ts). */
  line: boolean;
  /** `list` nodes: the nodes in a cycle that a recreated lock DaemonSet forgot are counted. */
  listNodes: boolean;
  /** `watch` nodes and daemonsets: woken by changes, else the lock and the Node are polled. */
  watchNodes: boolean;
  watchDaemonSets: boolean;
  /** `patch` on the lock DaemonSet: one merge patch per lock write, else read and update (PUT). */
  patchDaemonSet: boolean;
  /** `update` on the lock DaemonSet (kured's Role): the fallback when `patch` is not granted. */
  updateDaemonSet: boolean;
  /** `create` events.k8s.io events: Kubernetes Events on the Node, else none. */
  createEvents: boolean;
  /** `watch` pods: the healthy return is woken by pod changes, else polled. */
  watchPods: boolean;
}

export const ALL_GRANTED: Grants = {
  line: true,
  listNodes: true,
  watchNodes: true,
  watchDaemonSets: true,
  patchDaemonSet: true,
  updateDaemonSet: true,
  createEvents: true,
  watchPods: true,
};

interface Check {
  key: keyof Grants;
  attributes: { verb: string; group: string; resource: string; namespace?: string; name?: string };
  /** What turns off without it, and what the agent does instead; undefined: nothing to say. */
  without?: string;
}

// The watches are of one named object (a metadata.name field selector), so they are asked by name:
// a Role may grant them with resourceNames, as the chart's does.
function checks(lockNamespace: string, lockName: string, node: string): Check[] {
  const line = (verb: string): Check => ({
    key: 'line',
    attributes: { verb, group: 'coordination.k8s.io', resource: 'leases', namespace: lockNamespace },
    without: 'no waiting line: the first agent to find a free lock slot takes it, as kured does',
  });
  return [
    line('create'),
    line('list'),
    line('deletecollection'),
    {
      key: 'listNodes',
      attributes: { verb: 'list', group: '', resource: 'nodes' },
      without:
        'a lock DaemonSet deleted and created again during a reboot does not count the nodes still in their cycle',
    },
    {
      key: 'watchNodes',
      attributes: { verb: 'watch', group: '', resource: 'nodes', name: node },
      without: 'its Node is read, not watched',
    },
    {
      key: 'watchDaemonSets',
      attributes: {
        verb: 'watch',
        group: 'apps',
        resource: 'daemonsets',
        namespace: lockNamespace,
        name: lockName,
      },
      without: 'a waiting node polls the lock instead of being woken by its release',
    },
    {
      key: 'patchDaemonSet',
      attributes: {
        verb: 'patch',
        group: 'apps',
        resource: 'daemonsets',
        namespace: lockNamespace,
        name: lockName,
      },
      without: 'the lock is written by read and update (PUT), as kured does',
    },
    {
      key: 'updateDaemonSet',
      attributes: {
        verb: 'update',
        group: 'apps',
        resource: 'daemonsets',
        namespace: lockNamespace,
        name: lockName,
      },
    },
    {
      key: 'createEvents',
      attributes: { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: 'default' },
      without: 'no Kubernetes Events on the Node (kured-ts status shows no last event)',
    },
    {
      key: 'watchPods',
      attributes: { verb: 'watch', group: '', resource: 'pods' },
      without: "a rebooted node's pods are listed every 5 s while it waits to be healthy, not watched",
    },
  ];
}

export interface GrantsAnswer {
  grants: Grants;
  /** One line per missing grant: the grant and what is off without it. */
  missing: string[];
}

/**
 * Asks the API server which of the grants beyond kured's the agent has. When it cannot say (an
 * old API server, an authorizer that gives no answer), everything counts as granted: today's
 * behaviour, where a forbidden request is retried and logged.
 */
export async function probeGrants(
  kube: Kube,
  lock: { namespace: string; name: string },
  node: string,
): Promise<GrantsAnswer> {
  const all = checks(lock.namespace, lock.name, node);
  const answers = await Promise.all(
    all.map(async (c) => {
      try {
        const review = await kube.create<{ status?: { allowed?: boolean } }>(
          '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
          {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: c.attributes },
          },
        );
        return review.status?.allowed === true;
      } catch {
        return true;
      }
    }),
  );
  const grants = { ...ALL_GRANTED };
  const missing: string[] = [];
  all.forEach((c, i) => {
    if (answers[i]) return;
    grants[c.key] = false;
    if (c.without) missing.push(`${describeGrant(c.attributes)} is not granted: ${c.without}`);
  });
  // Neither patch nor update: nothing to fall back to; the refused patch will say so at each try.
  if (!grants.patchDaemonSet && !grants.updateDaemonSet) {
    grants.patchDaemonSet = true;
    const patch = all.find((c) => c.key === 'patchDaemonSet')!;
    const line = missing.findIndex((m) => m.startsWith(describeGrant(patch.attributes)));
    missing.splice(line, 1);
  }
  return { grants, missing };
}

/** e.g. `list on nodes`, `patch on apps daemonsets kube-system/kured`. */
function describeGrant(a: Check['attributes']): string {
  const resource = a.group ? `${a.group} ${a.resource}` : a.resource;
  const where = a.namespace
    ? a.name
      ? ` ${a.namespace}/${a.name}`
      : ` in namespace ${a.namespace}`
    : a.name
      ? ` ${a.name}`
      : '';
  return `${a.verb} on ${resource}${where}`;
}
