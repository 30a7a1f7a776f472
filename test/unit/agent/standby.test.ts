/**
 * Patch day: a node waiting in line, not named while others are, holds no watch of the lock (each
 * lock change would reach every waiting node); its own Node wakes it when whoever names it marks its
 * turn (TURN_ANNOTATION), and from then on it watches the lock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import { TURN_ANNOTATION } from '../../../src/core/lock/queue.ts';
import { fastClock, plainSettings, ports, World } from '../support/fakes.ts';

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

/** An agent over `world`, counting its open watches of the lock. */
function countingLockWatches(world: World): { agent: Agent; open: { lock: number } } {
  const open = { lock: 0 };
  const agent = new Agent(
    {
      ...ports(world, fastClock),
      gates: [],
      watches: [],
      lockWatch: () => {
        open.lock++;
        return () => void open.lock--;
      },
      logger: pino({ level: 'silent' }),
    },
    { ...plainSettings, periodMs: 60_000 },
  );
  return { agent, open };
}

test('in line behind the named: no lock watch until its Node says its turn is near', async () => {
  const world = new World();
  world.sentinel = true;
  // In line for 10 s already (past the grace a new one watches the lock through).
  world.node.labels['kured-ts.dev/reboot-waiting'] = String(Date.now() - 10_000);
  world.lock = '{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}';
  world.queue = '{"next":["n3","n4"],"zones":{}}';
  world.otherWaiters = [
    { name: 'n3', since: 1, zone: '' },
    { name: 'n4', since: 2, zone: '' },
  ];
  const open = { node: 0, lock: 0 };
  const counter = (k: 'node' | 'lock') => () => {
    open[k]++;
    return () => void open[k]--;
  };
  const a = new Agent(
    {
      ...ports(world, fastClock),
      gates: [],
      watches: [counter('node')],
      lockWatch: counter('lock'),
      logger: pino({ level: 'silent' }),
    },
    { ...plainSettings, periodMs: 60_000 },
  );
  a.start();
  await until(
    'in line, watching its Node',
    () => open.node === 1 && world.node.labels['kured-ts.dev/reboot-waiting'] !== undefined,
  );
  a.wake();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(open.lock, 0, 'standing by: no watch of the lock');
  // The holder releases and names it next (n3 and n4 went meanwhile): its Node is marked first.
  world.node.annotations[TURN_ANNOTATION] = String(Date.now());
  world.queue = '{"next":["n1"],"zones":{}}';
  world.lock = undefined;
  world.otherWaiters = [];
  a.wake();
  await until('its turn: the lock taken', () => /"nodeID":"n1"/.test(world.lock ?? ''));
  assert.equal(world.node.annotations[TURN_ANNOTATION], undefined, 'the mark goes with the lock taken');
  await a.stop();
  assert.deepEqual(open, { node: 0, lock: 0 });
});

test('while nobody is named (the first rush, a kured holder), every waiting node watches the lock', async () => {
  const world = new World();
  world.sentinel = true;
  world.lock =
    '{"nodeID":"kured-node","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}';
  world.otherWaiters = [{ name: 'n0', since: 1, zone: '' }];
  world.otherNodes.add('kured-node');
  const { agent: a, open } = countingLockWatches(world);
  a.start();
  await until('the lock watched', () => open.lock === 1);
  await a.stop();
});

test('new in line behind the named: it watches the lock through the grace, and sees names written without it', async () => {
  const world = new World();
  world.sentinel = true;
  world.lock = '{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}';
  world.queue = '{"next":["n3"],"zones":{}}';
  world.otherWaiters = [{ name: 'n3', since: 1, zone: '' }];
  const { agent: a, open } = countingLockWatches(world);
  a.start();
  try {
    await until('in line', () => world.node.labels['kured-ts.dev/reboot-waiting'] !== undefined);
    a.wake();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(open.lock, 1, 'new in line: still watching the lock');
    // n3 took n2's slot having read the line before our entry was in it: it named nobody.
    world.lock =
      '{"nodeID":"n3","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}';
    world.queue = undefined;
    world.otherWaiters = [];
    a.wake();
    await until('it names itself, first in line', () => /"next":\["n1"\]/.test(world.queue ?? ''));
  } finally {
    await a.stop();
  }
});

test("standing by beside a free slot its named nodes have yet to take: no wake at the grace's end, the resync only", async () => {
  const world = new World();
  world.sentinel = true;
  world.node.labels['kured-ts.dev/reboot-waiting'] = String(Date.now() - 10_000);
  world.queue = '{"next":["n3","n4"],"zones":{}}';
  world.otherWaiters = [
    { name: 'n3', since: 1, zone: '' },
    { name: 'n4', since: 2, zone: '' },
  ];
  // The sleeps the agent asks for (each ends at once, as with fastClock).
  const asked: number[] = [];
  const clock = {
    ...fastClock,
    sleep: (ms: number) => {
      asked.push(ms);
      return fastClock.sleep(0);
    },
  };
  const agent = new Agent(
    { ...ports(world, clock as typeof fastClock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
    { ...plainSettings, periodMs: 60_000 },
  );
  agent.start();
  try {
    await until('four looks', () => asked.length >= 4);
  } finally {
    await agent.stop();
  }
  // The grace is 5 s (and its jitter as much again); the resync is at least half a period away.
  assert.ok(
    asked.every((ms) => ms >= 25_000),
    `asked to sleep ${asked.map((ms) => Math.round(ms)).join(', ')} ms`,
  );
});
