import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, type Observation, type Step } from '../../../src/agent/decide.ts';
import type { Cycle } from '../../../src/core/cycle.ts';
import type { LockEntry } from '../../../src/core/lock/codec.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const policy = {
  rebootTimeoutMs: 15 * 60_000,
  lockReleaseDelayMs: 60_000,
  postRebootTimeoutMs: 10 * 60_000,
  haltOnFailure: true,
  namedGraceMs: 5000,
};
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const mine = (unschedulableBefore = false): LockEntry => ({
  nodeID: 'n1',
  metadata: { unschedulable: unschedulableBefore },
  created: ago(1000),
  TTL: 0,
});
const cycle = (c: Partial<Cycle> & Pick<Cycle, 'phase'>): Cycle => ({
  cordonedByUs: true,
  since: ago(1000),
  ...c,
});

interface Row {
  when: string;
  rebootRequired?: boolean;
  unschedulable?: boolean;
  ready?: boolean;
  bootID?: string;
  cycle?: Cycle;
  mine?: LockEntry;
  acquirable?: boolean;
  /** The nodes named next (kured-ts.dev/lock-queue); we are n1. */
  named?: string[];
  stopped?: boolean;
  unchangedMs?: number;
  gate?: Observation['gate'];
  health?: Observation['health'];
  policy?: Partial<typeof policy>;
  expect: Partial<Step> & Pick<Step, 'action'>;
}

// The state table of the reboot cycle: one row per situation an agent can find itself in.
const table: Row[] = [
  { when: 'no reboot needed', expect: { action: 'idle' } },
  { when: 'reboot needed, gates not yet asked', rebootRequired: true, expect: { action: 'checkGates' } },
  {
    when: 'reboot needed, a gate is closed',
    rebootRequired: true,
    gate: { open: false, gate: 'window', reason: 'outside the reboot window' },
    expect: { action: 'wait', phase: 'waiting', gate: 'window', reason: 'outside the reboot window' },
  },
  {
    when: 'lock held by others, n3 next in line',
    rebootRequired: true,
    gate: { open: true },
    acquirable: false,
    named: ['n3'],
    expect: {
      action: 'wait',
      phase: 'waiting',
      taint: true,
      reason: 'held by n2; n3 next',
      until: undefined,
    },
  },
  {
    when: 'lock free, our turn (named)',
    rebootRequired: true,
    gate: { open: true },
    named: ['n1'],
    expect: { action: 'acquire' },
  },
  {
    when: 'lock full, our turn next: watch the holders (ghosts)',
    rebootRequired: true,
    gate: { open: true },
    acquirable: false,
    named: ['n1'],
    expect: { action: 'wait', taint: true, checkHolders: true, reason: 'next in line' },
  },
  {
    when: 'lock free, named after n3: n3 takes its slot first (one writer at a time)',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3', 'n1'],
    unchangedMs: 1000,
    expect: { action: 'wait', taint: true, reason: 'next after n3', until: new Date(NOW.getTime() + 4000) },
  },
  {
    when: 'lock free, named after n3, which let its turn pass: our turn',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3', 'n1'],
    unchangedMs: 5000,
    expect: { action: 'acquire' },
  },
  {
    when: 'lock free, nobody named (the first rush, or a kured release): find who is first',
    rebootRequired: true,
    gate: { open: true },
    expect: { action: 'claim', passOver: [] },
  },
  {
    when: 'lock full, nobody named: find who is first (it names itself)',
    rebootRequired: true,
    gate: { open: true },
    acquirable: false,
    expect: { action: 'claim', passOver: [] },
  },
  {
    when: 'lock free, n3 named 2s ago: its turn for 3s more',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3'],
    unchangedMs: 2000,
    expect: { action: 'wait', taint: true, until: new Date(NOW.getTime() + 3000) },
  },
  {
    when: 'lock free, n3 named and let its turn pass: anyone waiting may go',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3'],
    unchangedMs: 5000,
    expect: { action: 'claim', passOver: ['n3'] },
  },
  {
    when: 'manual stop: nobody takes a turn',
    rebootRequired: true,
    gate: { open: true },
    acquirable: false,
    stopped: true,
    expect: { action: 'wait', taint: true, reason: 'waiting for the lock, held by n2' },
  },
  {
    when: 'our lock without a cycle, node cordoned by the lock holder (kured)',
    mine: mine(false),
    unschedulable: true,
    expect: { action: 'adoptLock', uncordon: true },
  },
  {
    when: 'our lock without a cycle, node was cordoned before the lock',
    mine: mine(true),
    unschedulable: true,
    expect: { action: 'adoptLock', uncordon: false },
  },
  {
    when: 'draining, schedulable, ours to cordon',
    mine: mine(),
    cycle: cycle({ phase: 'draining' }),
    expect: { action: 'drain', cordon: true },
  },
  {
    when: 'draining, already cordoned by an admin',
    mine: mine(true),
    unschedulable: true,
    cycle: cycle({ phase: 'draining', cordonedByUs: false }),
    expect: { action: 'drain', cordon: false },
  },
  {
    when: 'draining but the lock was lost',
    unschedulable: true,
    cycle: cycle({ phase: 'draining' }),
    expect: { action: 'abort', uncordon: true },
  },
  {
    when: 'lock lost while draining an admin-cordoned node',
    unschedulable: true,
    cycle: cycle({ phase: 'draining', cordonedByUs: false }),
    expect: { action: 'abort', uncordon: false },
  },
  {
    when: 'rebooted (new boot ID) and Ready, even with the lock gone',
    unschedulable: true,
    bootID: 'boot-2',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', requestedAt: ago(60_000) }),
    expect: { action: 'finish', uncordon: true },
  },
  {
    when: 'rebooted but not Ready yet',
    mine: mine(),
    unschedulable: true,
    ready: false,
    bootID: 'boot-2',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', requestedAt: ago(60_000) }),
    expect: { action: 'wait', phase: 'rebooting' },
  },
  {
    when: 'rebooted, admin-cordoned before: stays cordoned',
    mine: mine(true),
    unschedulable: true,
    bootID: 'boot-2',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', cordonedByUs: false }),
    expect: { action: 'finish', uncordon: false },
  },
  {
    when: 'rebooting, the request was never confirmed (killed before it)',
    mine: mine(),
    unschedulable: true,
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1' }),
    expect: { action: 'reboot', bootID: 'boot-1' },
  },
  {
    when: 'reboot requested a minute ago, same boot',
    mine: mine(),
    unschedulable: true,
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', requestedAt: ago(60_000) }),
    expect: { action: 'wait', phase: 'rebooting', until: new Date(NOW.getTime() - 60_000 + 15 * 60_000) },
  },
  {
    when: 'reboot requested past the reboot timeout, same boot',
    mine: mine(),
    unschedulable: true,
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', requestedAt: ago(16 * 60_000) }),
    expect: { action: 'abort', uncordon: true },
  },
  {
    when: 'settling (back, uncordoned), health not yet asked',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(10_000) }),
    expect: { action: 'checkHealth' },
  },
  {
    when: 'settling, killed before the uncordon was done',
    mine: mine(),
    unschedulable: true,
    cycle: cycle({ phase: 'settling' }),
    expect: { action: 'finish', uncordon: true },
  },
  {
    when: 'settling, admin-cordoned before: stays cordoned, health still counts',
    mine: mine(true),
    unschedulable: true,
    cycle: cycle({ phase: 'settling', cordonedByUs: false }),
    expect: { action: 'checkHealth' },
  },
  {
    when: 'settling, healthy',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(10_000) }),
    health: { healthy: true },
    expect: { action: 'settle', unhealthy: undefined },
  },
  {
    when: 'settling, a pod not Ready, within --post-reboot-timeout',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(60_000) }),
    health: { healthy: false, reason: 'pod kube-system/cni-x not Ready' },
    expect: {
      action: 'wait',
      phase: 'settling',
      reason: 'waiting until healthy: pod kube-system/cni-x not Ready',
      until: new Date(NOW.getTime() + 9 * 60_000),
    },
  },
  {
    when: 'settling, an alert firing: asked again at its retry time, before the timeout',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(60_000) }),
    health: { healthy: false, reason: '1 active alert', retryAt: new Date(NOW.getTime() + 5_000) },
    expect: { action: 'wait', phase: 'settling', until: new Date(NOW.getTime() + 5_000) },
  },
  {
    when: 'settling, not healthy past --post-reboot-timeout: the rollout halts',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(10 * 60_000) }),
    health: { healthy: false, reason: 'pod kube-system/cni-x not Ready' },
    expect: { action: 'halt', reason: 'pod kube-system/cni-x not Ready' },
  },
  {
    when: 'halted, still not healthy: keeps the lock and waits (for a pod event)',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(20 * 60_000), halted: 'pod kube-system/cni-x not Ready' }),
    health: { healthy: false, reason: 'pod kube-system/cni-x not Ready' },
    expect: { action: 'wait', phase: 'halted', reason: 'rollout halted: pod kube-system/cni-x not Ready' },
  },
  {
    when: 'halted, healthy again: the rollout goes on by itself',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(20 * 60_000), halted: 'pod kube-system/cni-x not Ready' }),
    health: { healthy: true },
    expect: { action: 'settle' },
  },
  {
    when: 'halted, lock released by an operator (resume, or removed by hand)',
    cycle: cycle({ phase: 'settling', since: ago(20 * 60_000), halted: 'pod kube-system/cni-x not Ready' }),
    expect: { action: 'forget' },
  },
  {
    when: 'settling, not healthy in time, --halt-on-failure=false: release as kured',
    mine: mine(),
    cycle: cycle({ phase: 'settling', since: ago(10 * 60_000) }),
    health: { healthy: false, reason: 'pod kube-system/cni-x not Ready' },
    policy: { haltOnFailure: false },
    expect: {
      action: 'settle',
      unhealthy: 'not healthy within 600s of being back: pod kube-system/cni-x not Ready',
    },
  },
  {
    when: 'settling, --post-reboot-timeout=0: no healthy wait',
    mine: mine(),
    cycle: cycle({ phase: 'settling' }),
    policy: { postRebootTimeoutMs: 0 },
    expect: { action: 'settle' },
  },
  {
    when: 'back, uncordoned, within the release delay',
    mine: mine(),
    cycle: cycle({ phase: 'releasing', since: ago(10_000) }),
    expect: { action: 'wait', phase: 'releasing', until: new Date(NOW.getTime() + 50_000) },
  },
  {
    when: 'back, release delay over',
    mine: mine(),
    cycle: cycle({ phase: 'releasing', since: ago(61_000) }),
    expect: { action: 'release' },
  },
  {
    when: 'releasing, killed before the uncordon was done',
    mine: mine(),
    unschedulable: true,
    cycle: cycle({ phase: 'releasing' }),
    expect: { action: 'finish', uncordon: true },
  },
  {
    when: 'releasing, lock already gone',
    cycle: cycle({ phase: 'releasing' }),
    expect: { action: 'forget' },
  },
  {
    when: 'backoff, abort not finished (still ours and cordoned)',
    mine: mine(),
    unschedulable: true,
    cycle: cycle({
      phase: 'backoff',
      until: new Date(NOW.getTime() + 60_000).toISOString(),
      reason: 'drain failed',
    }),
    expect: { action: 'abort', uncordon: true, reason: 'drain failed' },
  },
  {
    when: 'backoff, waiting before the next attempt',
    rebootRequired: true,
    cycle: cycle({
      phase: 'backoff',
      until: new Date(NOW.getTime() + 60_000).toISOString(),
      reason: 'drain failed',
    }),
    expect: { action: 'wait', phase: 'waiting' },
  },
  {
    when: 'backoff over',
    rebootRequired: true,
    cycle: cycle({ phase: 'backoff', until: ago(1) }),
    expect: { action: 'forget' },
  },
];

for (const row of table) {
  test(`decide: ${row.when} -> ${row.expect.action}`, () => {
    const observation: Observation = {
      now: NOW,
      rebootRequired: row.rebootRequired ?? false,
      node: {
        name: 'n1',
        unschedulable: row.unschedulable ?? false,
        ready: row.ready ?? true,
        bootID: row.bootID ?? 'boot-1',
        cycle: row.cycle,
      },
      lock: {
        mine: row.mine,
        acquirable: row.acquirable ?? true,
        holders: 'n2',
        stopped: row.stopped ?? false,
        named: row.named ?? [],
        namedMe: (row.named ?? []).includes('n1'),
        unchangedMs: row.unchangedMs ?? 0,
      },
      gate: row.gate,
      health: row.health,
    };
    const step = decide(observation, { ...policy, ...row.policy });
    assert.equal(step.action, row.expect.action);
    for (const [key, value] of Object.entries(row.expect)) {
      if (key === 'reason' && typeof value === 'string') {
        assert.match((step as { reason: string }).reason, new RegExp(value));
      } else {
        assert.deepEqual((step as Record<string, unknown>)[key], value, `${key}`);
      }
    }
  });
}

test('decide: a closed window says when it opens, and the agent waits until then', () => {
  const retryAt = new Date(NOW.getTime() + 3_600_000);
  const step = decide(
    {
      now: NOW,
      rebootRequired: true,
      node: { name: 'n1', unschedulable: false, ready: true, bootID: 'boot-1', cycle: undefined },
      lock: {
        mine: undefined,
        acquirable: true,
        holders: 'nobody',
        stopped: false,
        named: [],
        namedMe: false,
        unchangedMs: 0,
      },
      gate: { open: false, gate: 'window', reason: 'outside the reboot window', retryAt },
      health: undefined,
    },
    policy,
  );
  assert.deepEqual(step, {
    action: 'wait',
    phase: 'waiting',
    reason: 'outside the reboot window',
    gate: 'window',
    until: retryAt,
  });
});
