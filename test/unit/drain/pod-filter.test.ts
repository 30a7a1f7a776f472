import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { type PodVerdict, podVerdict, selectPodsToEvict } from '../../../src/drain/pod-filter.ts';

const NOW = new Date('2026-11-23T10:00:00Z');

interface PodShape {
  owner?: string;
  phase?: string;
  mirror?: boolean;
  emptyDir?: boolean;
  hostPath?: boolean;
  deletingForSeconds?: number;
}

function pod(name: string, s: PodShape = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      ...(s.owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: s.owner, name: 'o', uid: 'u', controller: true },
            ],
          }
        : {}),
      ...(s.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'abc' } } : {}),
      ...(s.deletingForSeconds !== undefined
        ? { deletionTimestamp: new Date(NOW.getTime() - s.deletingForSeconds * 1000) }
        : {}),
    },
    spec: {
      containers: [{ name: 'c' }],
      volumes: [
        ...(s.emptyDir ? [{ name: 'scratch', emptyDir: {} }] : []),
        ...(s.hostPath ? [{ name: 'host', hostPath: { path: '/var' } }] : []),
      ],
    },
    status: { phase: s.phase ?? 'Running' },
  };
}

const table: [string, PodShape, number, PodVerdict][] = [
  ['ReplicaSet pod', { owner: 'ReplicaSet' }, 0, { evict: true, warnings: [] }],
  ['controller of an unknown kind', { owner: 'Whatever' }, 0, { evict: true, warnings: [] }],
  ['DaemonSet pod', { owner: 'DaemonSet' }, 0, { evict: false, skip: 'daemonSet' }],
  ['finished DaemonSet pod', { owner: 'DaemonSet', phase: 'Succeeded' }, 0, { evict: true, warnings: [] }],
  ['mirror pod', { mirror: true }, 0, { evict: false, skip: 'mirror' }],
  ['bare pod', {}, 0, { evict: true, warnings: ['unmanaged'] }],
  ['finished bare pod', { phase: 'Failed' }, 0, { evict: true, warnings: [] }],
  ['emptyDir pod', { owner: 'ReplicaSet', emptyDir: true }, 0, { evict: true, warnings: ['localStorage'] }],
  ['bare emptyDir pod', { emptyDir: true }, 0, { evict: true, warnings: ['localStorage', 'unmanaged'] }],
  [
    'finished emptyDir pod',
    { owner: 'Job', emptyDir: true, phase: 'Succeeded' },
    0,
    { evict: true, warnings: [] },
  ],
  [
    'hostPath is not local storage',
    { owner: 'ReplicaSet', hostPath: true },
    0,
    { evict: true, warnings: [] },
  ],
  [
    'deleting 60 s, skip-wait 30 s',
    { owner: 'ReplicaSet', deletingForSeconds: 60 },
    30,
    { evict: false, skip: 'deletedLongAgo' },
  ],
  [
    'deleting 10 s, skip-wait 30 s',
    { owner: 'ReplicaSet', deletingForSeconds: 10 },
    30,
    { evict: true, warnings: [] },
  ],
  [
    'deleting long, skip-wait off',
    { owner: 'ReplicaSet', deletingForSeconds: 3600 },
    0,
    { evict: true, warnings: [] },
  ],
  [
    'deleted-long-ago wins over DaemonSet',
    { owner: 'DaemonSet', deletingForSeconds: 60 },
    30,
    { evict: false, skip: 'deletedLongAgo' },
  ],
  [
    'DaemonSet wins over mirror',
    { owner: 'DaemonSet', mirror: true },
    0,
    { evict: false, skip: 'daemonSet' },
  ],
];

for (const [name, shape, skipWait, want] of table) {
  test(`podVerdict: ${name}`, () => {
    assert.deepEqual(podVerdict(pod('p', shape), NOW, skipWait), want);
  });
}

test('a non-controller owner does not make a pod managed', () => {
  const p = pod('p');
  p.metadata!.ownerReferences = [
    { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'd', uid: 'u', controller: false },
  ];
  assert.deepEqual(podVerdict(p, NOW, 0), { evict: true, warnings: ['unmanaged'] });
});

test('selectPodsToEvict groups skips and warnings by pod key', () => {
  const selection = selectPodsToEvict(
    [
      pod('web', { owner: 'ReplicaSet' }),
      pod('ds', { owner: 'DaemonSet' }),
      pod('bare'),
      pod('m', { mirror: true }),
    ],
    NOW,
    0,
  );
  assert.deepEqual(
    selection.evict.map((p) => p.metadata?.name),
    ['web', 'bare'],
  );
  assert.deepEqual(selection.skipped, { daemonSet: ['ns/ds'], mirror: ['ns/m'] });
  assert.deepEqual(selection.warnings, { unmanaged: ['ns/bare'] });
});
