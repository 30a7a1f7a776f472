/** The hand-over over in-memory ports: ghosts removed by the first in line, a deleted Node lets go. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import { liveEntries, parseLock } from '../../../src/core/lock/codec.ts';
import type { Waiter } from '../../../src/core/lock/queue.ts';
import { type Gate, NodeGone } from '../../../src/core/ports.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import { FakeClock, fastClock, plainSettings, ports, World } from '../support/fakes.ts';

const settings: AgentSettings = plainSettings;
const entry = (node: string) =>
  `{"nodeID":"${node}","metadata":{"unschedulable":false},"created":"2026-11-23T11:00:00Z","TTL":0}`;

function agent(
  world: World,
  clock = new FakeClock(),
  p = ports(world, clock),
  s = settings,
  gates: Gate[] = [],
) {
  return new Agent({ ...p, gates, watches: [], logger: pino({ level: 'silent' }) }, s);
}

/** We (n1) wait for the lock with n3 in line too; `queue` is the hand-over annotation. */
function inLineWith(queue: string | undefined) {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.queue = queue;
  world.otherWaiters = [{ name: 'n3', since: 1, zone: '' }];
  return { world, clock };
}

/** The ports, with the LISTs of waiting nodes counted. */
function countingLists(p: ReturnType<typeof ports>) {
  const counter = { lists: 0 };
  const fleet = {
    ...p.fleet,
    waiting: (enough?: (line: Waiter[]) => boolean) => {
      counter.lists++;
      return p.fleet.waiting(enough);
    },
  };
  return { ports: { ...p, fleet }, counter };
}

for (const form of ['single', 'multi'] as const) {
  test(`a ghost holder (${form} form) is removed by the next in line, who then takes the lock`, async () => {
    const world = new World();
    world.sentinel = true;
    world.lock =
      form === 'single' ? entry('gone') : `{"maxOwners":2,"locks":[${entry('gone')},${entry('gone-too')}]}`;
    const a = agent(world);
    const steps: string[] = [];
    for (let i = 0; i < 6 && !world.lock?.includes('"n1"'); i++)
      steps.push((await a.reconcileOnce()).step.action);
    assert.match(world.lock ?? '', /"nodeID":"n1"/, `steps: ${steps.join(',')}`);
    assert.doesNotMatch(world.lock ?? '', /gone/);
    assert.ok(world.events.includes('GhostLockRemoved'));
  });
}

test('a node still in its cycle of a recreated lock DaemonSet counts as a holder, and goes back in the lock', async () => {
  const world = new World();
  world.sentinel = true;
  // n2 took its slot in a lock DaemonSet since deleted and created again: the new lock is empty.
  world.inCycleElsewhere = [{ nodeID: 'n2', unschedulable: false, zone: '' }];
  const a = agent(world);
  for (let i = 0; i < 6; i++) await a.reconcileOnce();
  assert.equal(world.node.unschedulable, false, 'n1 cordoned while n2 is down');
  assert.equal(world.node.annotations['kured-ts.dev/reboot-cycle'], undefined);
  assert.deepEqual(
    liveEntries(parseLock(world.lock), new Date()).map((e) => e.nodeID),
    ['n2'],
  );
});

test('a holder whose Node exists is not touched, and the manual entry never', async () => {
  for (const lock of [entry('n2'), '{"nodeID":"manual"}']) {
    const world = new World();
    world.sentinel = true;
    world.lock = lock;
    world.queue = '{"next":["n1"],"zones":{}}';
    const a = agent(world);
    for (let i = 0; i < 3; i++) assert.equal((await a.reconcileOnce()).step.action, 'wait');
    assert.equal(world.lock, lock);
    assert.ok(!world.events.includes('GhostLockRemoved'));
  }
});

test('a waiter that is not named does not write to the lock', async () => {
  const world = new World();
  world.sentinel = true;
  world.lock = entry('n2');
  world.queue = '{"next":["n3"],"zones":{}}';
  world.otherWaiters = [{ name: 'n3', since: 1, zone: '' }];
  const a = agent(world);
  await a.reconcileOnce();
  world.lock = undefined; // n2 released; n3 is named
  const { step } = await a.reconcileOnce();
  assert.equal(step.action, 'wait');
  assert.equal(world.lock, undefined);
});

test('our Node deleted while we hold the lock: the lock is released', async () => {
  const world = new World();
  world.lock = entry('n1');
  const clock = new FakeClock();
  const p = ports(world, clock);
  const a = agent(world, clock, {
    ...p,
    node: {
      ...p.node,
      read: async () => {
        throw new NodeGone('node n1 does not exist');
      },
    },
  });
  await assert.rejects(a.reconcileOnce(), NodeGone);
  assert.equal(world.lock, undefined);
});

test('a named node that lets a free slot sit past the grace is passed over; the first in line goes', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.queue = '{"next":["n3"],"zones":{}}';
  world.otherWaiters = [{ name: 'n3', since: 1, zone: '' }];
  const a = agent(world, clock);
  const first = await a.reconcileOnce();
  assert.equal(first.step.action, 'wait');
  assert.equal(world.lock, undefined);
  clock.advance(6000);
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.deepEqual(world.otherWaiters, []);
});

test('under the zone rule a named node the rule keeps out is not passed over; the first of the open zone takes the slot', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.node.labels['topology.kubernetes.io/zone'] = 'a';
  world.lock = `{"maxOwners":2,"locks":[${entry('n2')}]}`;
  // n3 (zone b) was named when nobody of zone a waited; n2 holds zone a.
  world.queue = '{"next":["n3"],"zones":{"n2":"a"}}';
  world.otherWaiters = [{ name: 'n3', since: 1, zone: 'b' }];
  const a = agent(world, clock, ports(world, clock, 2), { ...settings, concurrency: 2, maxZones: 1 });
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  clock.advance(6000);
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.deepEqual(
    world.otherWaiters.map((w) => w.name),
    ['n3'],
    'n3 keeps its place in line',
  );
  assert.ok(!world.events.includes('PassedOver'));
});

test('a turn let pass is taken out of line only by the waiter whose names land: one that lost the race takes no one out', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.queue = '{"next":["n3"],"zones":{}}';
  // n3 is named and sits on the free slot; n4 waited longer than us (n1), so we are not first.
  world.otherWaiters = [
    { name: 'n3', since: 1, zone: '' },
    { name: 'n4', since: 2, zone: '' },
  ];
  const p = ports(world, clock);
  const lock = {
    ...p.lock,
    // Another waiter's names land between our look and our write.
    name: async (next: string[], basis: string) => {
      world.queue = '{"next":["n4"],"zones":{}}';
      return p.lock.name(next, basis);
    },
  };
  const a = agent(world, clock, { ...p, lock });
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  clock.advance(6000);
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.deepEqual(
    world.otherWaiters.map((w) => w.name),
    ['n3', 'n4'],
    'the winner takes n3 out, not us',
  );
  assert.equal(world.queue, '{"next":["n4"],"zones":{}}');
});

test('not first in line: a claim writes nothing', async () => {
  const world = new World();
  world.sentinel = true;
  world.otherWaiters = [{ name: 'n2', since: 1, zone: '' }];
  const a = agent(world);
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.equal(world.lock, undefined);
  assert.equal(world.queue, undefined);
});

test('gates opening together: a waiter just in line names nobody, however long the lock sat still', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.otherWaiters = [{ name: 'n0', since: 1, zone: '' }];
  let open = false;
  const window: Gate = {
    name: 'window',
    check: async () => (open ? { open: true } : { open: false, reason: 'outside the reboot window' }),
  };
  const a = agent(world, clock, ports(world, clock), settings, [window]);
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  clock.advance(3_600_000); // the lock sat still for an hour while the window was closed
  open = true;
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.equal(world.queue, undefined, 'n0 is first; nobody waited the grace out: no write');
});

test('names chosen from an older state of the lock are dropped, not written over the newer', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.lock = entry('n2');
  world.otherWaiters = [{ name: 'n3', since: 1, zone: '' }];
  const p = ports(world, clock);
  const newer = '{"next":["n4"],"zones":{}}';
  const lock = {
    ...p.lock,
    // Another agent moves the line between our look and our write.
    name: (next: string[], basis: string) => {
      world.queue = newer;
      return p.lock.name(next, basis);
    },
  };
  const a = agent(world, clock, { ...p, lock });
  assert.equal((await a.reconcileOnce()).step.action, 'claim'); // in line from now; n3 is first
  assert.equal(world.queue, undefined);
  clock.advance(6000);
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.equal(world.queue, newer);
});

test('a hand-over costs one LIST of the waiting nodes: the release keeps the named, the taker names the next', async () => {
  const { world, clock } = inLineWith('{"next":["n1"],"zones":{}}');
  const { ports: p, counter } = countingLists(ports(world, clock));
  assert.equal((await agent(world, clock, p).reconcileOnce()).step.action, 'acquire');
  assert.equal(counter.lists, 1, 'nobody else was named: the taker lists the line to name the next');
  assert.match(world.queue ?? '', /"next":\["n3"\]/);
  // On to the reboot, which kills the agent (the host goes down); a new one finishes the cycle.
  const a = agent(world, clock, p);
  await assert.rejects(async () => {
    for (;;) await a.reconcileOnce();
  }, /killed/);
  world.budget = Number.POSITIVE_INFINITY;
  const b = agent(world, clock, p);
  for (let i = 0; i < 12 && world.lock; i++) {
    await b.reconcileOnce();
    clock.advance(61_000);
  }
  assert.equal(world.lock, undefined, 'released');
  assert.equal(counter.lists, 1, 'n3, named already, fills the freed slot: the release lists nothing');
  assert.match(world.queue ?? '', /"next":\["n3"\]/);
});

for (const zoneMate of [true, false]) {
  test(`under the zone rule a release reads the line only when it is its zone's last holder (${zoneMate ? 'another holder stays' : 'the last'})`, async () => {
    const { world, clock } = inLineWith('{"next":["n1"],"zones":{"n2":"a"}}');
    world.node.labels['topology.kubernetes.io/zone'] = 'a';
    if (zoneMate) world.lock = `{"maxOwners":2,"locks":[${entry('n2')}]}`;
    const s = { ...settings, concurrency: 2, maxZones: 1 };
    const { ports: p, counter } = countingLists(ports(world, clock, 2));
    assert.equal((await agent(world, clock, p, s).reconcileOnce()).step.action, 'acquire');
    const listsAtTake = counter.lists;
    const a = agent(world, clock, p, s);
    await assert.rejects(async () => {
      for (;;) await a.reconcileOnce();
    }, /killed/);
    world.budget = Number.POSITIVE_INFINITY;
    const b = agent(world, clock, p, s);
    for (let i = 0; i < 12 && world.lock?.includes('"n1"'); i++) {
      await b.reconcileOnce();
      clock.advance(61_000);
    }
    assert.doesNotMatch(world.lock ?? '', /"n1"/, 'released');
    // n2 keeps zone a open: n3, named for it, still fills the slot. Without n2, the slot may go to
    // another zone than the named one's: the line is read.
    assert.equal(counter.lists - listsAtTake, zoneMate ? 0 : 1);
  });
}

test('getting in line writes the Node once (reboot needed and the label together), and so does leaving it', async () => {
  const { world, clock } = inLineWith('{"next":["n3"],"zones":{}}');
  world.lock = entry('n2');
  const p = ports(world, clock);
  let nodeWrites = 0;
  const counted =
    <A extends unknown[]>(f: (...a: A) => Promise<unknown>) =>
    (...a: A) => {
      nodeWrites++;
      return f(...a);
    };
  const node = {
    ...p.node,
    setAnnotations: counted(p.node.setAnnotations),
    setLabels: counted(p.node.setLabels),
  };
  const a = agent(world, clock, { ...p, node });
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  assert.ok(
    world.node.labels['kured-ts.dev/reboot-waiting'] && world.node.annotations['kured-ts.dev/reboot-needed'],
  );
  assert.equal(nodeWrites, 1);
  world.sentinel = false; // the reboot is no longer needed: out of line
  assert.equal((await a.reconcileOnce()).step.action, 'idle');
  assert.equal(world.node.labels['kured-ts.dev/reboot-waiting'], undefined);
  assert.equal(world.node.annotations['kured-ts.dev/reboot-needed'], undefined);
  assert.equal(world.lineEntry, undefined);
  assert.equal(nodeWrites, 2);
});

test('a wave named at once with its spare: the first named takes its slot and leaves the rest named, without a LIST', async () => {
  const { world, clock } = inLineWith('{"next":["n1","n3","n4"],"zones":{}}');
  world.otherWaiters.push({ name: 'n4', since: 2, zone: '' });
  const { ports: p, counter } = countingLists(ports(world, clock, 2));
  const a = agent(world, clock, p, { ...settings, concurrency: 2 });
  assert.equal((await a.reconcileOnce()).step.action, 'acquire');
  assert.equal(counter.lists, 0);
  assert.match(world.queue ?? '', /"next":\["n3","n4"\]/, 'n3 goes next, woken by this write; n4 the spare');
  assert.deepEqual(world.turnsMarked, [], 'nobody newly named: nobody to wake');
});

test('names written where nobody was named wake nobody: every waiting node watches the lock then', async () => {
  const { world, clock } = inLineWith(undefined);
  world.otherWaiters = [
    { name: 'n3', since: Date.now() + 3_600_000, zone: '' },
    { name: 'n4', since: Date.now() + 3_600_001, zone: '' },
  ];
  assert.equal((await agent(world, clock).reconcileOnce()).step.action, 'claim');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.match(world.queue ?? '', /"next":\["n3","n4"\]/);
  assert.deepEqual(world.turnsMarked, []);
});

test('the last of the named to take a slot lists the line, names the next and a spare, and marks their turn first', async () => {
  const { world, clock } = inLineWith('{"next":["n1"],"zones":{}}');
  world.otherWaiters.push({ name: 'n4', since: 2, zone: '' }, { name: 'n5', since: 3, zone: '' });
  const { ports: p, counter } = countingLists(ports(world, clock));
  let markedBeforeNames = false;
  const fleet = {
    ...p.fleet,
    markTurn: async (nodes: string[]) => {
      markedBeforeNames = world.queue === '{"next":["n1"],"zones":{}}';
      return p.fleet.markTurn(nodes);
    },
  };
  assert.equal((await agent(world, clock, { ...p, fleet }).reconcileOnce()).step.action, 'acquire');
  assert.equal(counter.lists, 1);
  assert.match(world.queue ?? '', /"next":\["n3","n4"\]/, 'n3 next, n4 the spare (n5 waits unnamed)');
  assert.deepEqual(world.turnsMarked, ['n3', 'n4']);
  assert.ok(markedBeforeNames, 'woken before the write that names them');
});

test('a waiting node asks its gates once a minute, not at every lock change; the pre-flight only at its turn', async () => {
  const { world, clock } = inLineWith('{"next":["n3"],"zones":{}}');
  world.lock = entry('n2');
  const asked = { alerts: 0, preflight: 0 };
  const counted = (name: 'alerts' | 'preflight') => async () => {
    asked[name]++;
    return { open: true } as const;
  };
  const alerts: Gate = { name: 'prometheus', check: counted('alerts') };
  const preflight: Gate = { name: 'budgets', beforeLock: true, check: counted('preflight') };
  const a = agent(world, clock, ports(world, clock), settings, [alerts, preflight]);
  for (let i = 0; i < 10; i++) {
    // Hand-overs elsewhere in the fleet: the lock changes, n3 stays named.
    world.lock = i % 2 ? entry('n2') : entry('n4');
    assert.equal((await a.reconcileOnce()).step.action, 'wait');
    clock.advance(1000);
  }
  assert.deepEqual(asked, { alerts: 1, preflight: 0 });
  clock.advance(60_000);
  await a.reconcileOnce();
  assert.deepEqual(asked, { alerts: 2, preflight: 0 }, 'asked again after a minute');
  world.lock = undefined;
  world.queue = '{"next":["n1"],"zones":{}}';
  assert.equal((await a.reconcileOnce()).step.action, 'acquire');
  assert.deepEqual(asked, { alerts: 3, preflight: 1 }, 'our turn: every gate, as it is now');
});

test('named behind another in a wave: the pre-flight is asked while waiting, and at the turn only the lock is written', async () => {
  const { world, clock } = inLineWith('{"next":["n3","n1"],"zones":{}}');
  const asked = { preflight: 0 };
  const preflight: Gate = {
    name: 'budgets',
    beforeLock: true,
    check: async () => {
      asked.preflight++;
      return { open: true };
    },
  };
  const p = ports(world, clock, 2);
  const a = agent(world, clock, p, { ...settings, concurrency: 2 }, [preflight]);
  assert.equal((await a.reconcileOnce()).step.action, 'wait', 'n3 takes its slot first');
  assert.equal(asked.preflight, 1, 'asked while n3 takes its slot');
  // n3 took its slot: its write left us first in line.
  world.lock = `{"maxOwners":2,"locks":[${entry('n3')}]}`;
  world.queue = '{"next":["n1"],"zones":{}}';
  clock.advance(300);
  assert.equal((await a.reconcileOnce()).step.action, 'acquire');
  assert.equal(asked.preflight, 1, 'the verdict of 300 ms ago stands');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
});

test('two places behind in a wave: ready while waiting (forgotten holders read once per lock object), and at the turn only the lock is written', async () => {
  const { world, clock } = inLineWith('{"next":["n3","n4","n1"],"zones":{}}');
  world.otherWaiters.push({ name: 'n4', since: 2, zone: '' });
  const a = agent(world, clock, ports(world, clock, 3), { ...settings, concurrency: 3 });
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  assert.equal(world.forgottenReads, 1, 'read while n3 and n4 take their slots');
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  assert.equal(world.forgottenReads, 1, 'none forgotten by this lock object: not read again');
  // The lock DaemonSet deleted and created again: what the new one forgot is read afresh.
  world.lockUid = 'lock-uid-2';
  world.lock = `{"maxOwners":3,"locks":[${entry('n3')}]}`;
  world.queue = '{"next":["n4","n1"],"zones":{}}';
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  assert.equal(world.forgottenReads, 2);
  world.lock = `{"maxOwners":3,"locks":[${entry('n3')},${entry('n4')}]}`;
  world.queue = '{"next":["n1"],"zones":{}}';
  assert.equal((await a.reconcileOnce()).step.action, 'acquire');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.equal(world.forgottenReads, 2, 'at the turn only the lock is written');
});

test('three places behind in a wave: nothing read ahead, the pre-flight not asked yet', async () => {
  const { world, clock } = inLineWith('{"next":["n3","n4","n5","n1"],"zones":{}}');
  world.otherWaiters.push({ name: 'n4', since: 2, zone: '' }, { name: 'n5', since: 3, zone: '' });
  let asked = 0;
  const preflight: Gate = {
    name: 'budgets',
    beforeLock: true,
    check: async () => {
      asked++;
      return { open: true };
    },
  };
  const a = agent(world, clock, ports(world, clock, 4), { ...settings, concurrency: 4 }, [preflight]);
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  assert.equal(world.forgottenReads, 0);
  assert.equal(asked, 0, 'a verdict asked now would be stale at our turn');
});

test('a pre-flight verdict older than two seconds is asked again at the turn', async () => {
  const { world, clock } = inLineWith('{"next":["n3","n1"],"zones":{}}');
  let open = true;
  const preflight: Gate = {
    name: 'budgets',
    beforeLock: true,
    check: async () => (open ? { open: true } : { open: false, reason: 'budget allows 0 disruptions' }),
  };
  const a = agent(world, clock, ports(world, clock, 2), { ...settings, concurrency: 2 }, [preflight]);
  assert.equal((await a.reconcileOnce()).step.action, 'wait');
  open = false;
  world.lock = `{"maxOwners":2,"locks":[${entry('n3')}]}`;
  world.queue = '{"next":["n1"],"zones":{}}';
  clock.advance(2500);
  const { step } = await a.reconcileOnce();
  assert.equal(step.action, 'wait');
  assert.doesNotMatch(world.lock ?? '', /"nodeID":"n1"/);
});

test('naming the next in a line of a thousand reads its head only: one page', async () => {
  const { world, clock } = inLineWith('{"next":["n1"],"zones":{}}');
  world.otherWaiters = Array.from({ length: 1000 }, (_, i) => ({ name: `w${i}`, since: 10 + i, zone: '' }));
  world.linePage = 12;
  assert.equal((await agent(world, clock).reconcileOnce()).step.action, 'acquire');
  assert.match(world.queue ?? '', /"next":\["w0","w1"\]/);
  assert.equal(world.linePagesRead, 1);
});

test('with nobody named, the first in line is found on the first page of a long line', async () => {
  const { world, clock } = inLineWith(undefined);
  world.otherWaiters = Array.from({ length: 1000 }, (_, i) => ({
    name: `w${i}`,
    since: Date.now() + 10 + i,
    zone: '',
  }));
  world.linePage = 12;
  // We (n1) got in line first: our entry heads the line, and the lock is free.
  world.lineEntry = Date.now();
  world.node.labels['kured-ts.dev/reboot-waiting'] = String(world.lineEntry);
  assert.equal((await agent(world, clock).reconcileOnce()).step.action, 'claim');
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.equal(world.linePagesRead, 1);
});

test('a node that gets in line and takes the free slot in the same turn leaves no entry behind', async () => {
  const world = new World();
  world.sentinel = true;
  const clock = new FakeClock();
  const a = agent(world, clock);
  for (let i = 0; i < 4 && !world.lock?.includes('"n1"'); i++) await a.reconcileOnce();
  assert.match(world.lock ?? '', /"nodeID":"n1"/);
  assert.equal(
    world.lineEntry,
    undefined,
    'its entry would be named once its cycle is over, and passed over',
  );
});

test('a lock write that met conflicts past its attempts is a warning, tried again, not an error', async () => {
  const world = new World();
  world.sentinel = true;
  const p = ports(world, fastClock);
  let conflicts = 1;
  const lock = {
    ...p.lock,
    acquire: (...args: Parameters<typeof p.lock.acquire>) => {
      if (conflicts-- > 0)
        throw new ApiError(
          409,
          { reason: 'Conflict', message: 'the object has been modified' },
          {},
          'PATCH lock',
        );
      return p.lock.acquire(...args);
    },
  };
  const lines: { level: number; msg: string; err?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const a = new Agent({ ...p, lock, gates: [], watches: [], logger }, { ...settings, periodMs: 20 });
  a.start();
  for (let i = 0; i < 400 && world.reboots === 0; i++) await new Promise((r) => setTimeout(r, 5));
  await a.stop();
  assert.equal(world.reboots, 1, 'the lock taken at the next try');
  assert.ok(lines.some((l) => l.level === 40 && /HTTP 409/.test(l.msg)));
  // (The fake host's reboot "kills" the agent: its next write fails, an error as it should be.)
  assert.deepEqual(
    lines.filter((l) => l.level >= 50 && /409|modified/.test(l.err ?? '')),
    [],
  );
});
