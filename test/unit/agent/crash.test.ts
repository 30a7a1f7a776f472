/**
 * Crash safety over in-memory ports: the agent is killed before every single write it makes
 * during a reboot cycle, a new agent starts from whatever the "cluster" holds, and the cycle must
 * still end with exactly one reboot, the node uncordoned iff we cordoned it, and no lock left.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import { CYCLE_ANNOTATION } from '../../../src/agent/cycle.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import { FakeClock, Killed, ports, World } from '../support/fakes.ts';

const settings: AgentSettings = {
  nodeId: 'n1',
  periodMs: 3_600_000,
  concurrency: 1,
  lockTtlMs: 0,
  lockReleaseDelayMs: 30_000,
  rebootTimeoutMs: 600_000,
  drainDelayMs: 0,
  drainTimeoutMs: 0,
  rebootDelayMs: 5_000,
  forceReboot: false,
  annotateNodes: true,
  preRebootNodeLabels: { reboot: 'pending' },
  postRebootNodeLabels: { reboot: 'done' },
  preferNoScheduleTaint: 'kured-ts/waiting',
  gateRecheckMs: 60_000,
  nodePollMs: 5_000,
  notifyBlockedAfterMs: 0,
};

function agent(world: World, clock: FakeClock, s: AgentSettings = settings): Agent {
  return new Agent({ ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) }, s);
}

/** Turns the loop by hand until the node is idle with nothing left over; restarts on a kill. */
async function converge(world: World, clock: FakeClock, s = settings): Promise<{ kills: number }> {
  let current = agent(world, clock, s);
  let kills = 0;
  for (let turn = 0; turn < 100; turn++) {
    try {
      const { step } = await current.reconcileOnce();
      const done =
        step.action === 'idle' && !world.node.annotations[CYCLE_ANNOTATION] && world.lock === undefined;
      if (done) return { kills };
      if (step.action === 'wait')
        clock.advance(step.until ? Math.max(1, step.until.getTime() - clock.now().getTime()) : 1000);
    } catch (err) {
      if (!(err instanceof Killed)) throw err;
      kills++;
      world.budget = Number.POSITIVE_INFINITY;
      current = agent(world, clock, s);
    }
  }
  assert.fail(`no convergence: ${JSON.stringify(world.node.annotations)} lock=${world.lock}`);
}

test('a clean cycle: one reboot, uncordoned, lock released, labels and annotations as kured', async () => {
  const world = new World();
  world.sentinel = true;
  await converge(world, new FakeClock());
  assert.equal(world.reboots, 1);
  assert.equal(world.node.unschedulable, false);
  assert.equal(world.lock, undefined);
  assert.equal(world.node.labels.reboot, 'done');
  assert.ok(world.node.annotations['weave.works/kured-most-recent-reboot-needed']);
  assert.equal(world.node.annotations['weave.works/kured-reboot-in-progress'], undefined);
  assert.deepEqual(
    world.notifications.map((n) => n.kind),
    ['drain', 'reboot', 'uncordon'],
  );
});

for (const preCordoned of [false, true]) {
  test(`killed before each write of the cycle, it converges (node ${preCordoned ? 'cordoned by an admin' : 'schedulable'} before)`, async () => {
    // Count the writes of an undisturbed cycle, then kill before each one in turn.
    const probe = new World();
    probe.sentinel = true;
    probe.node.unschedulable = preCordoned;
    let writes = 0;
    const spend = probe.spend.bind(probe);
    probe.spend = () => {
      writes++;
      spend();
    };
    await converge(probe, new FakeClock());
    assert.ok(writes > 5, `only ${writes} writes`);
    for (let k = 0; k <= writes; k++) {
      const world = new World();
      world.sentinel = true;
      world.node.unschedulable = preCordoned;
      world.budget = k;
      await converge(world, new FakeClock());
      assert.equal(world.reboots, 1, `kill before write ${k}: ${world.reboots} reboots`);
      assert.equal(world.node.unschedulable, preCordoned, `kill before write ${k}: cordon state`);
      assert.equal(world.lock, undefined, `kill before write ${k}: lock left`);
    }
  });
}

test('a failed drain uncordons at once, releases the lock without the release delay, and backs off', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.drainResult = {
    ok: false,
    reason: 'pod ns/a: PodDisruptionBudget ns/pdb allows no disruption',
    blockingPods: ['ns/a'],
    permanent: false,
  };
  const a = agent(world, clock);
  const started = clock.now().getTime();
  for (let i = 0; i < 5 && !world.events.includes('RebootAborted'); i++) await a.reconcileOnce();
  assert.equal(world.node.unschedulable, false);
  assert.equal(world.lock, undefined);
  assert.ok(clock.now().getTime() - started < settings.lockReleaseDelayMs, 'the release delay held the node');
  assert.match(world.node.annotations[CYCLE_ANNOTATION] ?? '', /"phase":"backoff"/);
  assert.ok(world.events.includes('DrainFailed'));
  assert.equal(world.notifications.at(-1)?.kind, 'drainFailed');
  assert.equal(world.reboots, 0);
});

test('an admin-cordoned node stays cordoned when its drain fails', async () => {
  const world = new World();
  world.sentinel = true;
  world.node.unschedulable = true;
  world.drainResult = { ok: false, reason: 'blocked', blockingPods: [], permanent: true };
  const a = agent(world, new FakeClock());
  for (let i = 0; i < 5 && !world.events.includes('RebootAborted'); i++) await a.reconcileOnce();
  assert.equal(world.node.unschedulable, true);
  assert.equal(world.lock, undefined);
});

test('--force-reboot reboots even when the drain fails', async () => {
  const world = new World();
  world.sentinel = true;
  world.drainResult = { ok: false, reason: 'blocked', blockingPods: ['ns/a'], permanent: false };
  await converge(world, new FakeClock(), { ...settings, forceReboot: true });
  assert.equal(world.reboots, 1);
  assert.equal(world.node.unschedulable, false);
});

test('waiting for the lock sets the PreferNoSchedule taint, and removes it once the lock is ours', async () => {
  const world = new World();
  world.sentinel = true;
  world.lock = '{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}';
  const a = agent(world, new FakeClock());
  const { step } = await a.reconcileOnce();
  assert.equal(step.action, 'wait');
  assert.deepEqual(world.node.taints, [{ key: 'kured-ts/waiting', effect: 'PreferNoSchedule' }]);
  assert.ok(world.events.includes('WaitingForLock'));
  world.lock = undefined;
  await a.reconcileOnce();
  await a.reconcileOnce();
  assert.deepEqual(world.node.taints, []);
});
