/**
 * What the agent publishes on its Node for operator tools (history, reboot needed), and how it
 * honours `kured-ts pause`, over in-memory ports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import { CYCLE_ANNOTATION } from '../../../src/core/cycle.ts';
import { HISTORY_ANNOTATION, NEEDED_ANNOTATION, parseHistory } from '../../../src/core/history.ts';
import { FakeClock, Killed, plainSettings, ports, World } from '../support/fakes.ts';

const settings: AgentSettings = plainSettings;

/** Turns the loop until the cycle is over; the agent "dies" with its node's reboot and restarts. */
async function cycle(world: World, clock: FakeClock): Promise<void> {
  let a = new Agent(
    { ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
    settings,
  );
  for (let turn = 0; turn < 30; turn++) {
    try {
      const { step } = await a.reconcileOnce();
      if (
        step.action === 'idle' &&
        !world.node.annotations[CYCLE_ANNOTATION] &&
        !world.node.annotations[NEEDED_ANNOTATION]
      )
        return;
    } catch (err) {
      if (!(err instanceof Killed)) throw err;
      world.budget = Number.POSITIVE_INFINITY;
      a = new Agent(
        { ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
        settings,
      );
    }
    clock.advance(1000);
  }
  assert.fail('no convergence');
}

test('each completed cycle is recorded on the Node, newest first; reboot-needed comes and goes', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  const a = new Agent(
    { ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
    settings,
  );
  await a.reconcileOnce();
  assert.equal(
    world.node.annotations[NEEDED_ANNOTATION],
    clock
      .now()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z'),
  );
  await cycle(world, clock);
  world.sentinel = true;
  await cycle(world, clock);
  const h = parseHistory(world.node.annotations[HISTORY_ANNOTATION]);
  assert.ok('records' in h);
  assert.equal(h.records.length, 2);
  assert.ok(h.records[0]!.start > h.records[1]!.start, 'newest first');
  for (const r of h.records) {
    assert.equal(r.outcome, 'rebooted');
    assert.equal(typeof r.drainSeconds, 'number');
    assert.equal(typeof r.rebootSeconds, 'number');
  }
  assert.equal(world.node.annotations[NEEDED_ANNOTATION], undefined);
});

test('an aborted attempt is recorded with its reason', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.drainResult = {
    ok: false,
    reason: 'budget ns/pdb allows no disruption',
    blockingPods: ['ns/a'],
    permanent: false,
  };
  const a = new Agent(
    { ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
    settings,
  );
  for (let i = 0; i < 5 && !world.events.includes('RebootAborted'); i++) await a.reconcileOnce();
  const h = parseHistory(world.node.annotations[HISTORY_ANNOTATION]);
  assert.ok('records' in h);
  assert.equal(h.records[0]?.outcome, 'aborted');
  assert.match(h.records[0]?.reason ?? '', /budget ns\/pdb/);
});

test('a pause record beside the lock holds a node that needs a reboot, and says who paused', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.pause = JSON.stringify({
    by: 'alice',
    at: clock.now().toISOString(),
    reason: 'freeze',
    created: 'x',
    lock: 'pending',
  });
  const a = new Agent(
    { ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
    settings,
  );
  const { step } = await a.reconcileOnce();
  assert.equal(step.action, 'wait');
  assert.match(step.action === 'wait' ? step.reason : '', /kured-ts pause \(paused by alice at .*: freeze\)/);
  assert.equal(world.lock, undefined);
  assert.equal(world.reboots, 0);
});
