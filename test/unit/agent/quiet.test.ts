/**
 * Quiet when idle: after one look that finds nothing of ours in the cluster, an agent whose
 * sentinel says no reboot reads nothing and holds no watch; it starts both when a reboot is needed
 * and stops them once the cycle is over.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import type { Clock } from '../../../src/core/ports.ts';
import { FakeClock, fastClock, plainSettings, ports, World } from '../support/fakes.ts';

const settings: AgentSettings = {
  ...plainSettings,
  preferNoScheduleTaint: 'kured-ts/waiting',
  postRebootTimeoutMs: 600_000,
};

/** The fake ports, counting the cluster reads the agent makes. */
function counted(world: World, clock: Clock) {
  const p = ports(world, clock as FakeClock);
  const reads = { node: 0, lock: 0 };
  const node = {
    ...p.node,
    read: () => {
      reads.node++;
      return p.node.read();
    },
  };
  const lock = {
    ...p.lock,
    read: () => {
      reads.lock++;
      return p.lock.read();
    },
  };
  return { deps: { ...p, node, lock }, reads };
}

test('idle: one start-up look, then no reads while the sentinel says no reboot', async () => {
  const world = new World();
  const { deps, reads } = counted(world, new FakeClock());
  const a = new Agent({ ...deps, gates: [], watches: [], logger: pino({ level: 'silent' }) }, settings);
  assert.equal((await a.reconcileOnce()).step.action, 'idle');
  assert.deepEqual(reads, { node: 1, lock: 1 });
  for (let i = 0; i < 5; i++) assert.equal((await a.reconcileOnce()).step.action, 'idle');
  assert.deepEqual(reads, { node: 1, lock: 1 }, 'an idle agent read the cluster again');
  world.sentinel = true;
  // First in line (nobody else waits): the look that finds it takes the lock.
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.deepEqual(reads, { node: 2, lock: 2 });
});

test('not quiet while something of ours is left: a cycle, our lock entry, our taint', async () => {
  for (const leftover of ['cycle', 'lock', 'taint'] as const) {
    const world = new World();
    if (leftover === 'cycle')
      world.node.annotations['kured-ts.dev/reboot-cycle'] = JSON.stringify({
        phase: 'backoff',
        cordonedByUs: false,
        since: '2026-11-23T11:00:00Z',
        until: '2026-11-23T11:30:00Z',
      });
    if (leftover === 'lock')
      world.lock =
        '{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}';
    if (leftover === 'taint') world.node.taints = [{ key: 'kured-ts/waiting', effect: 'PreferNoSchedule' }];
    const { deps, reads } = counted(world, new FakeClock());
    const a = new Agent({ ...deps, gates: [], watches: [], logger: pino({ level: 'silent' }) }, settings);
    await a.reconcileOnce();
    await a.reconcileOnce();
    // The clean-up turn is followed by a look that confirms it; then the agent is quiet.
    assert.equal(reads.node, 2, `${leftover}: the leftover was not looked at again`);
    for (let i = 0; i < 3; i++) await a.reconcileOnce();
    assert.equal(reads.node, 2, `${leftover}: not quiet after the clean-up`);
    assert.equal(world.node.annotations['kured-ts.dev/reboot-cycle'], undefined);
    assert.equal(world.lock, undefined);
    assert.deepEqual(world.node.taints, []);
  }
});

test('the watches run only while there is a reboot to do', async () => {
  const world = new World();
  const clock = fastClock;
  const { deps } = counted(world, clock);
  let open = 0;
  let opened = 0;
  const watch = () => {
    open++;
    opened++;
    return () => void open--;
  };
  const a = new Agent(
    { ...deps, clock, gates: [], watches: [watch, watch], logger: pino({ level: 'silent' }) },
    { ...settings, periodMs: 20 },
  );
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(check(), what);
  };
  a.start();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(opened, 0, 'an idle agent opened a watch');
  world.sentinel = true;
  a.wake();
  await until('the watches to open for the reboot', () => open === 2);
  await until('the reboot', () => world.reboots === 1);
  world.budget = Number.POSITIVE_INFINITY;
  await until('the cycle to end and the watches to close', () => open === 0 && world.lock === undefined);
  await a.stop();
  assert.equal(open, 0);
});
