/**
 * The chart grants exactly what the agent uses (docs/install.md, "RBAC"): a new grant must be
 * argued for there and here, and the end-to-end test proves each one is needed.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { helmBinary } from '../../../scripts/render-manifests.ts';
import { find, type Obj, render } from './render.ts';

let bin: string;
before(async () => {
  bin = await helmBinary();
});

/** One line per (namespace, apiGroup, resource, resourceName, verb), sorted: easy to diff. */
function grants(objs: Obj[]): string[] {
  const lines: string[] = [];
  for (const role of objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
    const scope = role.kind === 'ClusterRole' ? 'cluster' : `ns/${role.metadata.namespace}`;
    for (const rule of role.rules) {
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const name of rule.resourceNames ?? ['*'])
            for (const verb of rule.verbs)
              lines.push(`${scope} ${group || 'core'} ${resource} ${name} ${verb}`);
    }
  }
  return lines.toSorted();
}

describe('chart RBAC', () => {
  it('grants exactly the documented minimal set', () => {
    assert.deepEqual(grants(render(bin)), [
      'cluster core nodes * get',
      'cluster core nodes * list',
      'cluster core nodes * patch',
      'cluster core nodes * watch',
      'cluster core pods * get',
      'cluster core pods * list',
      'cluster core pods * watch',
      'cluster core pods/eviction * create',
      'cluster policy poddisruptionbudgets * list',
      'ns/default events.k8s.io events * create',
      'ns/kured-ts apps daemonsets kured-ts get',
      'ns/kured-ts apps daemonsets kured-ts patch',
      'ns/kured-ts apps daemonsets kured-ts watch',
      'ns/kured-ts coordination.k8s.io leases * create',
      'ns/kured-ts coordination.k8s.io leases * deletecollection',
      'ns/kured-ts coordination.k8s.io leases * list',
    ]);
  });

  it('with configuration.budgetPreflight=false: the flag is passed and budgets are not granted', () => {
    const objs = render(bin, ['--set', 'configuration.budgetPreflight=false']);
    assert.ok(!grants(objs).some((g) => g.includes('poddisruptionbudgets')));
    const args: string[] = find(objs, 'DaemonSet').spec.template.spec.containers[0].args;
    assert.ok(args.includes('--budget-preflight=false'));
    assert.ok(
      !find(render(bin), 'DaemonSet').spec.template.spec.containers[0].args.some((a: string) =>
        a.startsWith('--budget'),
      ),
    );
  });

  it('binds every role to the chart ServiceAccount, and only that', () => {
    const objs = render(bin);
    const sa = find(objs, 'ServiceAccount');
    const bindings = objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
    assert.equal(bindings.length, 3);
    for (const b of bindings) {
      assert.deepEqual(b.subjects, [
        { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'kured-ts' },
      ]);
      const role = find(objs, b.roleRef.kind, b.roleRef.name);
      if (b.kind === 'RoleBinding') assert.equal(b.metadata.namespace, role.metadata.namespace);
    }
  });

  it('never grants pod deletion, a DaemonSet update, or cluster-wide DaemonSet reads (kured does)', () => {
    const all = grants(render(bin)).join('\n');
    assert.doesNotMatch(all, /pods \* delete/);
    assert.doesNotMatch(all, /daemonsets .* update/);
    assert.doesNotMatch(all, /cluster apps daemonsets/);
  });

  it('creates no RBAC objects with rbac.create=false, and uses the named ServiceAccount', () => {
    const objs = render(bin, [
      '--set',
      'rbac.create=false',
      '--set',
      'serviceAccount.create=false',
      '--set',
      'serviceAccount.name=ops',
    ]);
    assert.ok(!objs.some((o) => /Role/.test(o.kind) || o.kind === 'ServiceAccount'));
    assert.equal(find(objs, 'DaemonSet').spec.template.spec.serviceAccountName, 'ops');
  });
});
