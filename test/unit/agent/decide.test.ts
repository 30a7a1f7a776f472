import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, type Observation, type Policy, type Step } from '../../../src/agent/decide.ts';
import type { Cycle } from '../../../src/core/cycle.ts';
import type { LockEntry } from '../../../src/core/lock/codec.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const policy: Policy = {
  rebootTimeoutMs: 15 * 60_000,
  lockReleaseDelayMs: 60_000,
  postRebootTimeoutMs: 10 * 60_000,
  haltOnFailure: true,
  namedGraceMs: 5000,
  preflightFreshMs: 2000,
  gateRecheckMs: 60_000,
  nodePollMs: 5000,
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
  /** The boot ID of the kernel the agent runs on (read from the host, not the Node). */
  kernelBootID?: string;
  cycle?: Cycle;
  mine?: LockEntry;
  acquirable?: boolean;
  /** The nodes named next (kured-ts.dev/lock-queue); we are n1. */
  named?: string[];
  stopped?: boolean;
  /** The lock annotation is malformed. */
  unreadable?: boolean;
  /** The lock DaemonSet's uid (a cycle records the one its slot was taken in). */
  lockUid?: string;
  unchangedMs?: number;
  gate?: Observation['gate'];
  /** The gates' verdict was remembered from an earlier turn, asked this long ago. */
  gateAgeMs?: number;
  /** The pre-flight's last verdict, asked this long ago. */
  preflight?: { verdict: NonNullable<Observation['gate']>; ageMs: number };
  gone?: boolean;
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
    when: 'rebooting, the request never confirmed, the same kernel: not rebooted yet, asked again',
    mine: mine(),
    unschedulable: true,
    kernelBootID: 'kernel-1',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', kernelBootID: 'kernel-1' }),
    expect: { action: 'reboot', bootID: 'boot-1' },
  },
  {
    when: 'rebooting, the request never confirmed, a new kernel the Node does not show yet: rebooted, not again',
    mine: mine(),
    unschedulable: true,
    kernelBootID: 'kernel-2',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', kernelBootID: 'kernel-1' }),
    expect: { action: 'wait', phase: 'rebooting', reason: 'kubelet to report the new boot ID' },
  },
  {
    when: 'rebooted: the Node shows the new boot, the kernel too',
    mine: mine(),
    unschedulable: true,
    bootID: 'boot-2',
    kernelBootID: 'kernel-2',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', kernelBootID: 'kernel-1' }),
    expect: { action: 'finish', uncordon: true },
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
  // A malformed lock (chaos seed 1): whether we hold it is unknown; ending the cycle would leave our
  // entry behind once an operator puts the old value back, so the cycle waits for the fix.
  {
    when: 'draining, lock unreadable',
    unschedulable: true,
    unreadable: true,
    cycle: cycle({ phase: 'draining' }),
    expect: { action: 'wait', phase: 'draining', reason: 'unreadable' },
  },
  {
    when: 'back and settling, lock unreadable',
    unreadable: true,
    cycle: cycle({ phase: 'settling' }),
    expect: { action: 'wait', phase: 'settling', reason: 'unreadable' },
  },
  {
    when: 'releasing, lock unreadable',
    unreadable: true,
    cycle: cycle({ phase: 'releasing' }),
    expect: { action: 'wait', phase: 'releasing', reason: 'unreadable' },
  },
  {
    when: 'backoff, lock unreadable',
    rebootRequired: true,
    unreadable: true,
    cycle: cycle({ phase: 'backoff', until: ago(1) }),
    expect: { action: 'wait', phase: 'waiting', reason: 'unreadable' },
  },
  {
    when: 'backoff over',
    rebootRequired: true,
    cycle: cycle({ phase: 'backoff', until: ago(1) }),
    expect: { action: 'forget' },
  },
  // The rows the moves of decisions into decide() added: the node gone, a failed drain or reboot
  // as recorded, which gates to ask at our turn (policy.preflight: a budget pre-flight exists).
  {
    when: 'our Node was deleted while we hold the lock: let it go',
    gone: true,
    mine: mine(),
    rebootRequired: true,
    expect: { action: 'nodeGone', release: true },
  },
  {
    when: 'our Node does not exist, no lock of ours: nothing to let go',
    gone: true,
    cycle: cycle({ phase: 'draining' }),
    expect: { action: 'nodeGone', release: false },
  },
  {
    when: 'draining, the drain failed (recorded): give the attempt up, uncordon what we cordoned',
    cycle: cycle({ phase: 'draining', drainFailed: 'pod ns/a: budget allows 0' }),
    mine: mine(),
    unschedulable: true,
    expect: { action: 'abort', uncordon: true, reason: 'drain failed: pod ns/a: budget allows 0' },
  },
  {
    when: 'draining, the drain failed, --force-reboot: reboot anyway',
    cycle: cycle({ phase: 'draining', drainFailed: 'blocked' }),
    mine: mine(),
    unschedulable: true,
    policy: { forceReboot: true },
    expect: { action: 'forceReboot', reason: 'blocked' },
  },
  {
    when: 'draining, the drain failed, an admin cordon: given up, left cordoned',
    cycle: cycle({ phase: 'draining', cordonedByUs: false, drainFailed: 'blocked' }),
    mine: mine(true),
    unschedulable: true,
    expect: { action: 'abort', uncordon: false },
  },
  {
    when: 'rebooting, the reboot request failed (recorded): give the attempt up',
    cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', rebootFailed: 'the reboot request failed: exit 1' }),
    mine: mine(),
    unschedulable: true,
    expect: { action: 'abort', uncordon: true, reason: 'the reboot request failed: exit 1' },
  },
  {
    when: 'a remembered open verdict, not our turn: it stands',
    rebootRequired: true,
    gate: { open: true },
    gateAgeMs: 30_000,
    acquirable: false,
    named: ['n3'],
    expect: { action: 'wait', taint: true },
  },
  {
    when: 'a remembered verdict past --period or a minute: the gates are asked again',
    rebootRequired: true,
    gate: { open: true },
    gateAgeMs: 60_000,
    named: ['n3'],
    expect: { action: 'checkGates', preflight: undefined },
  },
  {
    when: 'a remembered closed verdict past the time its gate said it opens: asked again',
    rebootRequired: true,
    gate: { open: false, gate: 'window', reason: 'outside', retryAt: new Date(NOW.getTime() - 1) },
    gateAgeMs: 1000,
    expect: { action: 'checkGates' },
  },
  {
    when: 'our turn on a remembered verdict: the gates as they are now',
    rebootRequired: true,
    gate: { open: true },
    gateAgeMs: 1000,
    named: ['n1'],
    expect: { action: 'checkGates', preflight: undefined },
  },
  {
    when: 'our turn, gates asked now, a pre-flight exists and was not asked: ask it',
    rebootRequired: true,
    gate: { open: true },
    named: ['n1'],
    policy: { preflight: true },
    expect: { action: 'checkGates', preflight: true },
  },
  {
    when: 'our turn, the pre-flight asked 1s ago and open: take the lock',
    rebootRequired: true,
    gate: { open: true },
    named: ['n1'],
    preflight: { verdict: { open: true }, ageMs: 1000 },
    policy: { preflight: true },
    expect: { action: 'acquire' },
  },
  {
    when: 'our turn, the pre-flight asked 3s ago: asked again',
    rebootRequired: true,
    gate: { open: true },
    named: ['n1'],
    preflight: { verdict: { open: true }, ageMs: 3000 },
    policy: { preflight: true },
    expect: { action: 'checkGates', preflight: true },
  },
  {
    when: 'our turn, the pre-flight closed: wait, naming the budget',
    rebootRequired: true,
    gate: { open: true },
    named: ['n1'],
    preflight: { verdict: { open: false, gate: 'budgets', reason: 'budget allows 0' }, ageMs: 0 },
    policy: { preflight: true },
    expect: { action: 'wait', phase: 'waiting', gate: 'budgets', reason: 'budget allows 0' },
  },
  {
    when: 'nobody named, a free slot, a pre-flight exists: asked before the claim takes it',
    rebootRequired: true,
    gate: { open: true },
    policy: { preflight: true },
    expect: { action: 'checkGates', preflight: true },
  },
  {
    when: 'nobody named, the lock full: a claim names, so no pre-flight yet',
    rebootRequired: true,
    gate: { open: true },
    acquirable: false,
    policy: { preflight: true },
    expect: { action: 'claim' },
  },
  {
    when: 'named behind n3 in a wave: wait, and ask the pre-flight meanwhile',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3', 'n1'],
    unchangedMs: 1000,
    policy: { preflight: true },
    expect: { action: 'wait', nearTurn: true, askPreflight: true },
  },
  {
    when: 'named three places behind in a wave: wait, nothing asked ahead (it would be stale)',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3', 'n4', 'n5', 'n1'],
    unchangedMs: 1000,
    policy: { preflight: true },
    expect: { action: 'wait', nearTurn: undefined, askPreflight: undefined },
  },
  {
    when: 'named behind n3 in a wave, the pre-flight fresh: wait only',
    rebootRequired: true,
    gate: { open: true },
    named: ['n3', 'n1'],
    unchangedMs: 1000,
    preflight: { verdict: { open: true }, ageMs: 500 },
    policy: { preflight: true },
    expect: { action: 'wait', askPreflight: undefined },
  },
  // The lock's DaemonSet deleted and created again during a cycle (chaos, lock-daemonset-recreate):
  // the new lock has forgotten the holder, which takes its slot back before anything else.
  {
    when: 'rebooting, the lock DaemonSet recreated without our entry',
    unschedulable: true,
    lockUid: 'uid-b',
    cycle: cycle({ phase: 'rebooting', lockUid: 'uid-a', bootID: 'boot-1', requestedAt: ago(500) }),
    expect: { action: 'reclaim', putBack: true },
  },
  {
    when: 'back on a new boot, the lock DaemonSet recreated and our entry put back by another node',
    unschedulable: true,
    bootID: 'boot-2',
    lockUid: 'uid-b',
    mine: mine(),
    cycle: cycle({ phase: 'rebooting', lockUid: 'uid-a', bootID: 'boot-1', requestedAt: ago(500) }),
    expect: { action: 'reclaim', putBack: false },
  },
  {
    when: 'settling, the lock DaemonSet recreated: taken back, not read as an operator release',
    lockUid: 'uid-b',
    cycle: cycle({ phase: 'settling', lockUid: 'uid-a' }),
    expect: { action: 'reclaim', putBack: true },
  },
  {
    when: 'settling, our entry gone from the same lock DaemonSet: an operator released it',
    lockUid: 'uid-a',
    cycle: cycle({ phase: 'settling', lockUid: 'uid-a' }),
    expect: { action: 'forget' },
  },
  {
    when: 'draining, the lock DaemonSet recreated with a malformed lock: wait for the fix',
    unschedulable: true,
    unreadable: true,
    lockUid: 'uid-b',
    cycle: cycle({ phase: 'draining', lockUid: 'uid-a' }),
    expect: { action: 'wait', phase: 'draining', reason: 'unreadable' },
  },
  {
    when: 'backing off, the lock DaemonSet recreated: no slot to take back',
    rebootRequired: true,
    lockUid: 'uid-b',
    cycle: cycle({ phase: 'backoff', lockUid: 'uid-a', until: ago(1) }),
    expect: { action: 'forget' },
  },
  {
    when: 'a cycle from before the uid was recorded: as before',
    lockUid: 'uid-b',
    cycle: cycle({ phase: 'settling' }),
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
        ...(row.gone ? { gone: true } : {}),
        unschedulable: row.unschedulable ?? false,
        ready: row.ready ?? true,
        bootID: row.bootID ?? 'boot-1',
        cycle: row.cycle,
      },
      ...(row.kernelBootID ? { kernelBootID: row.kernelBootID } : {}),
      lock: {
        mine: row.mine,
        ...(row.lockUid ? { uid: row.lockUid } : {}),
        acquirable: row.acquirable ?? true,
        holders: 'n2',
        stopped: row.stopped ?? row.unreadable ?? false,
        unreadable: row.unreadable ?? false,
        named: row.named ?? [],
        namedMe: (row.named ?? []).includes('n1'),
        unchangedMs: row.unchangedMs ?? 0,
      },
      gate: row.gate,
      ...(row.gateAgeMs !== undefined ? { gateAskedAt: new Date(NOW.getTime() - row.gateAgeMs) } : {}),
      ...(row.preflight
        ? {
            preflight: {
              verdict: row.preflight.verdict,
              askedAt: new Date(NOW.getTime() - row.preflight.ageMs),
            },
          }
        : {}),
      health: row.health,
    };
    const { step } = decide(observation, { ...policy, ...row.policy });
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
  const { step, wake } = decide(
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
  assert.deepEqual(wake, retryAt);
});

/** When to look again, as decide() says with each step (the agent sleeps until then, or a watch wakes it). */
test('decide: the wake-up time comes with the step', () => {
  const base: Observation = {
    now: NOW,
    rebootRequired: true,
    node: { name: 'n1', unschedulable: false, ready: true, bootID: 'boot-1', cycle: undefined },
    lock: {
      mine: undefined,
      acquirable: false,
      holders: 'n2',
      stopped: false,
      named: ['n3'],
      namedMe: false,
      unchangedMs: 0,
    },
    gate: { open: true },
    health: undefined,
    jitter: 0.5,
  };
  const at = (ms: number) => new Date(NOW.getTime() + ms);
  // In line behind n3, the lock full: no deadline of its own (the lock's watch wakes it).
  assert.equal(decide(base, policy).wake, undefined);
  // The holder's entry has a TTL: looked at again 100 ms after it expires, without an event.
  assert.deepEqual(
    decide({ ...base, lock: { ...base.lock, expiresAt: at(30_000) } }, policy).wake,
    at(30_100),
  );
  // A claim that named nobody: after the grace, with this turn's jitter (half of it).
  const claim = decide({ ...base, lock: { ...base.lock, named: [], acquirable: false } }, policy);
  assert.deepEqual([claim.step.action, claim.wake], ['claim', at(5000 + 2500)]);
  // A closed gate that does not say when it opens: asked again after gateRecheckMs.
  const blocked = decide(
    { ...base, gate: { open: false, gate: 'prometheus', reason: 'alert firing' } },
    policy,
  );
  assert.deepEqual(blocked.wake, at(60_000));
  // Waiting for the node to go down: polled every nodePollMs, before the reboot timeout.
  const rebooting = decide(
    {
      ...base,
      node: {
        ...base.node,
        unschedulable: true,
        cycle: cycle({ phase: 'rebooting', bootID: 'boot-1', requestedAt: ago(60_000) }),
      },
      lock: { ...base.lock, mine: mine() },
    },
    policy,
  );
  assert.deepEqual([rebooting.step.action, rebooting.wake], ['wait', at(5000)]);
  // A step that changes something: looked at again at once.
  assert.equal(
    decide({ ...base, lock: { ...base.lock, named: ['n1'], namedMe: true, acquirable: true } }, policy).wake,
    'now',
  );
  // Nothing to do: only the resync (and the sentinel's watch) wakes it.
  assert.equal(decide({ ...base, rebootRequired: false }, policy).wake, undefined);
});
