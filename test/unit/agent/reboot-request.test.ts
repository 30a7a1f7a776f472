/**
 * `kured-ts reboot NODE`: the request annotation is a sentinel saying yes. The cycle goes through the
 * lock and the gates as always (only the window and the alerts may be waived), the request is removed
 * in the write that records the node back, and a kill before any write never reboots twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import { CYCLE_ANNOTATION } from '../../../src/core/cycle.ts';
import type { Gate } from '../../../src/core/ports.ts';
import { REQUEST_ANNOTATION, serializeRequest } from '../../../src/reboot/request.ts';
import { FakeClock, Killed, plainSettings, ports, World } from '../support/fakes.ts';

const settings: AgentSettings = {
  ...plainSettings,
  rebootRequestPeriodMs: 300_000,
  lockReleaseDelayMs: 10_000,
};

const closed = (name: string): Gate => ({
  name,
  check: async () => ({ open: false, reason: `${name} closed` }),
});

function agent(world: World, clock: FakeClock, gates: Gate[] = []): Agent {
  return new Agent(
    { ...ports(world, clock), gates, watches: [], logger: pino({ level: 'silent' }) },
    settings,
  );
}

function request(world: World, r: { ignoreWindow?: boolean; ignoreAlerts?: boolean } = {}): void {
  world.node.annotations[REQUEST_ANNOTATION] = serializeRequest({
    at: '2026-11-23T11:00:00Z',
    reason: 'kernel fix',
    ...r,
  });
}

/** Turns the loop until idle with nothing left; a kill starts a new agent. */
async function converge(world: World, clock: FakeClock, gates: Gate[] = []): Promise<number> {
  let current = agent(world, clock, gates);
  let kills = 0;
  for (let turn = 0; turn < 100; turn++) {
    try {
      const { step } = await current.reconcileOnce();
      if (step.action === 'idle' && !world.node.annotations[CYCLE_ANNOTATION] && world.lock === undefined)
        return kills;
      if (step.action === 'wait')
        clock.advance(step.until ? Math.max(1, step.until.getTime() - clock.now().getTime()) : 1000);
    } catch (err) {
      if (!(err instanceof Killed)) throw err;
      kills++;
      world.budget = Number.POSITIVE_INFINITY;
      current = agent(world, clock, gates);
    }
  }
  assert.fail(`no convergence: ${JSON.stringify(world.node.annotations)} lock=${world.lock}`);
}

test('a request without a sentinel reboots the node once and is removed', async () => {
  const world = new World();
  request(world);
  await converge(world, new FakeClock());
  assert.equal(world.reboots, 1);
  assert.equal(world.node.annotations[REQUEST_ANNOTATION], undefined);
  assert.equal(world.node.unschedulable, false);
  assert.equal(world.lock, undefined);
});

test('killed before each write of a requested cycle, it converges with exactly one reboot', async () => {
  const probe = new World();
  request(probe);
  await converge(probe, new FakeClock());
  assert.ok(probe.writes > 4, `only ${probe.writes} writes`);
  for (let k = 0; k <= probe.writes; k++) {
    const world = new World();
    request(world);
    world.budget = k;
    await converge(world, new FakeClock());
    assert.equal(world.reboots, 1, `kill before write ${k}: ${world.reboots} reboots`);
    assert.equal(
      world.node.annotations[REQUEST_ANNOTATION],
      undefined,
      `kill before write ${k}: request left`,
    );
    assert.equal(world.node.unschedulable, false, `kill before write ${k}: cordon state`);
    assert.equal(world.lock, undefined, `kill before write ${k}: lock left`);
  }
});

test('the request waives the window and the alerts only when it says so, never the other gates', async () => {
  const clock = new FakeClock();
  const gates = [
    closed('window'),
    closed('prometheus'),
    closed('alertmanager'),
    closed('promql'),
    closed('pods'),
  ];
  const world = new World();
  request(world, { ignoreWindow: true });
  const a = agent(world, clock, gates);
  await a.reconcileOnce();
  let { step } = await a.reconcileOnce();
  assert.equal(step.action, 'wait');
  assert.equal(step.action === 'wait' && step.gate, 'prometheus');

  request(world, { ignoreWindow: true, ignoreAlerts: true });
  ({ step } = await agent(world, clock, gates).reconcileOnce());
  assert.equal(step.action === 'wait' && step.gate, 'promql', 'a PromQL query is never waived');

  const open = [closed('window'), closed('prometheus'), closed('alertmanager')];
  await converge(world, clock, open);
  assert.equal(world.reboots, 1);
});

test('a quiet agent finds a request at its next look, one read per --reboot-request-period', async () => {
  const world = new World();
  const clock = new FakeClock();
  let reads = 0;
  const p = ports(world, clock);
  const read = p.node.read;
  world.node.annotations.unrelated = 'x';
  const counted = new Agent(
    {
      ...p,
      node: {
        ...p.node,
        read: async () => {
          reads++;
          return read();
        },
      },
      gates: [],
      watches: [],
      logger: pino({ level: 'silent' }),
    },
    settings,
  );
  await counted.reconcileOnce(); // the start-up look: quiet from here
  reads = 0;
  request(world);
  await counted.reconcileOnce();
  assert.equal(reads, 0, 'looked before the period');
  clock.advance(settings.rebootRequestPeriodMs);
  const { step } = await counted.reconcileOnce();
  assert.notEqual(step.action, 'idle');
  assert.ok(reads >= 1);
});
