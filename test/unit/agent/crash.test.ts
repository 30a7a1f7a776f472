/**
 * Crash safety over in-memory ports: the agent is killed before every single write it makes
 * during a reboot cycle, a new agent starts from whatever the "cluster" holds, and the cycle must
 * still end with exactly one reboot, the node uncordoned iff we cordoned it, and no lock left.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import { CYCLE_ANNOTATION } from '../../../src/core/cycle.ts';
import { HISTORY_ANNOTATION, NEEDED_ANNOTATION, parseHistory } from '../../../src/core/history.ts';
import type { CycleCompanion } from '../../../src/core/ports.ts';
import { releaseHalted } from '../../../src/health/release.ts';
import { FakeClock, Killed, plainSettings, ports, World } from '../support/fakes.ts';

const settings: AgentSettings = {
  ...plainSettings,
  lockReleaseDelayMs: 30_000,
  rebootDelayMs: 5_000,
  annotateNodes: true,
  preRebootNodeLabels: { reboot: 'pending' },
  postRebootNodeLabels: { reboot: 'done' },
  preferNoScheduleTaint: 'kured-ts/waiting',
  postRebootTimeoutMs: 600_000,
  // Put back at the first look after the release: the crash loop sees it done before it stops.
  scaleDownProtection: true,
  scaleDownGraceMs: 0,
};

const AUTOSCALER = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';
const KARPENTER = 'karpenter.sh/do-not-disrupt';

/** Kept from the autoscaler and Karpenter at the reboot, and put back exactly as before after it. */
function assertProtection(world: World, before: Record<string, string>, k: number | string): void {
  assert.equal(
    world.annotationsAtReboot?.[AUTOSCALER],
    'true',
    `kill before write ${k}: autoscaler at the reboot`,
  );
  assert.equal(
    world.annotationsAtReboot?.[KARPENTER],
    'true',
    `kill before write ${k}: Karpenter at the reboot`,
  );
  for (const key of [AUTOSCALER, KARPENTER, 'kured-ts.dev/scale-down-protection'])
    assert.equal(world.node.annotations[key], before[key], `kill before write ${k}: ${key} not put back`);
}

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
  assert.equal(world.podWatches, 0);
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
    await converge(probe, new FakeClock());
    assert.ok(probe.writes > 5, `only ${probe.writes} writes`);
    for (let k = 0; k <= probe.writes; k++) {
      const world = new World();
      world.sentinel = true;
      world.node.unschedulable = preCordoned;
      world.budget = k;
      // An operator's own value (kept as it is) beside an absent one (removed again after).
      world.node.annotations[AUTOSCALER] = 'false';
      await converge(world, new FakeClock());
      assert.equal(world.reboots, 1, `kill before write ${k}: ${world.reboots} reboots`);
      assert.equal(world.node.unschedulable, preCordoned, `kill before write ${k}: cordon state`);
      assert.equal(world.lock, undefined, `kill before write ${k}: lock left`);
      assertProtection(world, { [AUTOSCALER]: 'false' }, k);
    }
  });
}

test('back on a new kernel before the request was recorded, the Node showing the old boot a while: no second reboot', async () => {
  const world = new World();
  world.sentinel = true;
  const clock = new FakeClock();
  let current = agent(world, clock);
  // Up to the reboot: the agent dies with the node before it records the request (see fakes).
  for (let turn = 0; turn < 20 && world.reboots === 0; turn++)
    await current.reconcileOnce().catch((err) => assert.ok(err instanceof Killed));
  assert.equal(world.reboots, 1);
  // The kubelet started our pod again before it reported the new boot ID on the Node.
  world.node.bootID = 'boot-1';
  world.budget = Number.POSITIVE_INFINITY;
  current = agent(world, clock);
  for (let turn = 0; turn < 3; turn++) {
    const { step } = await current.reconcileOnce();
    assert.deepEqual([step.action, world.reboots], ['wait', 1], `turn ${turn}: ${JSON.stringify(step)}`);
  }
  world.node.bootID = 'boot-2';
  await converge(world, clock);
  assert.equal(world.reboots, 1);
  assert.equal(world.node.unschedulable, false);
  assert.equal(world.lock, undefined);
});

test('with others in line: killed before each write, the marks of their turn included, it converges and names them', async () => {
  const inLine = (w: World) => {
    w.sentinel = true;
    // Named by a release (a name set: the names we write next wake whom they name).
    w.queue = '{"next":["n1"],"zones":{}}';
    w.otherWaiters = [
      { name: 'n3', since: Date.now() + 3_600_000, zone: '' },
      { name: 'n4', since: Date.now() + 3_600_001, zone: '' },
    ];
  };
  const probe = new World();
  inLine(probe);
  await converge(probe, new FakeClock());
  assert.deepEqual(probe.turnsMarked.slice(0, 2), ['n3', 'n4'], 'the next and the spare woken');
  for (let k = 0; k <= probe.writes; k++) {
    const world = new World();
    inLine(world);
    world.budget = k;
    await converge(world, new FakeClock());
    assert.equal(world.reboots, 1, `kill before write ${k}: ${world.reboots} reboots`);
    assert.equal(world.lock, undefined, `kill before write ${k}: lock left`);
    // Named or, having let their turn pass (these two never act), taken out of line: never named unwoken.
    const named = JSON.parse(world.queue ?? '{"next":[]}').next as string[];
    assert.ok(
      named.every((n) => world.turnsMarked.includes(n)),
      `kill before write ${k}: named ${named} but woke ${world.turnsMarked}`,
    );
  }
});

/** The lock's DaemonSet deleted and created again (empty, a new uid) while the node reboots. */
class RecreatedDuringReboot extends World {
  /** Did the new lock name us again before we released it? */
  reclaimed = false;
  override rebootNow(): void {
    super.rebootNow();
    this.lock = undefined;
    this.queue = undefined;
    this.lockUid = 'lock-uid-2';
  }
  override spend(): void {
    super.spend();
    // Checked after each write: the one before was allowed.
    queueMicrotask(() => {
      if (this.lockUid === 'lock-uid-2' && this.lock?.includes('"n1"')) this.reclaimed = true;
    });
  }
}

test('the lock DaemonSet recreated while the node reboots: killed before each write, the slot is taken back, one reboot, released', async () => {
  const probe = new RecreatedDuringReboot();
  probe.sentinel = true;
  await converge(probe, new FakeClock());
  assert.ok(probe.reclaimed, 'the slot was never taken back');
  for (let k = 0; k <= probe.writes; k++) {
    const world = new RecreatedDuringReboot();
    world.sentinel = true;
    world.budget = k;
    await converge(world, new FakeClock());
    assert.equal(world.reboots, 1, `kill before write ${k}: ${world.reboots} reboots`);
    assert.ok(world.reclaimed, `kill before write ${k}: the slot was never taken back`);
    assert.equal(world.node.unschedulable, false, `kill before write ${k}: left cordoned`);
    assert.equal(world.lock, undefined, `kill before write ${k}: lock left`);
    assert.equal(world.node.labels['kured-ts.dev/in-cycle'], undefined, `kill before write ${k}: label left`);
  }
});

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
  // Nobody was named next: the first look finds we are first in line, and names us.
  assert.equal((await a.reconcileOnce()).step.action, 'claim');
  assert.match(world.queue ?? '', /"next":\["n1"\]/);
  const { step } = await a.reconcileOnce();
  assert.equal(step.action, 'wait');
  assert.deepEqual(world.node.taints, [{ key: 'kured-ts/waiting', effect: 'PreferNoSchedule' }]);
  assert.ok(world.events.includes('WaitingForLock'));
  world.lock = undefined;
  await a.reconcileOnce();
  await a.reconcileOnce();
  assert.deepEqual(world.node.taints, []);
});

const T0 = Date.parse('2026-11-23T12:00:00Z');

test('the lock is held until the rebooted node is healthy, and the release delay runs after that', async () => {
  const world = new World();
  world.sentinel = true;
  world.podsReadyAt = T0 + 3 * 60_000;
  await converge(world, new FakeClock());
  assert.equal(world.reboots, 1);
  assert.equal(world.node.unschedulable, false);
  assert.ok(
    (world.lockReleasedAt ?? 0) >= world.podsReadyAt + settings.lockReleaseDelayMs,
    `released at +${((world.lockReleasedAt ?? 0) - T0) / 1000}s`,
  );
  assert.ok(world.events.includes('WaitingForHealthy'));
  assert.ok(world.events.includes('Healthy'));
  assert.equal(world.podWatches, 0, 'the pod watch outlived the healthy wait');
  assert.ok(!world.notifications.some((n) => n.kind === 'halted'));
});

for (const preCordoned of [false, true]) {
  test(`killed before each write, with a healthy wait after the reboot, it converges (node ${preCordoned ? 'cordoned by an admin' : 'schedulable'} before)`, async () => {
    const setup = (w: World) => {
      w.sentinel = true;
      w.node.unschedulable = preCordoned;
      w.podsReadyAt = T0 + 2 * 60_000;
    };
    const probe = new World();
    setup(probe);
    await converge(probe, new FakeClock());
    for (let k = 0; k <= probe.writes; k++) {
      const world = new World();
      setup(world);
      world.budget = k;
      await converge(world, new FakeClock());
      assert.equal(world.reboots, 1, `kill before write ${k}: ${world.reboots} reboots`);
      assert.equal(world.node.unschedulable, preCordoned, `kill before write ${k}: cordon state`);
      assert.equal(world.lock, undefined, `kill before write ${k}: lock left`);
      assertProtection(world, {}, k);
      assert.ok(
        (world.lockReleasedAt ?? 0) >= world.podsReadyAt,
        `kill before write ${k}: released unhealthy`,
      );
    }
  });
}

/** Turns one agent until `until` says stop (advancing fake time over waits); returns the last step. */
async function turn(a: Agent, clock: FakeClock, until: (action: string) => boolean, max = 50) {
  for (let i = 0; i < max; i++) {
    const { step } = await a.reconcileOnce();
    if (until(step.action)) return step;
    if (step.action === 'wait')
      clock.advance(step.until ? Math.max(1, step.until.getTime() - clock.now().getTime()) : 1000);
  }
  assert.fail('the expected step never came');
}

/** Runs an agent up to the reboot, which kills it (the fake's budget), as the host going down does. */
async function rebootThrough(world: World, clock: FakeClock): Promise<void> {
  await assert.rejects(
    turn(agent(world, clock), clock, () => false),
    Killed,
  );
  assert.equal(world.reboots, 1);
  world.budget = Number.POSITIVE_INFINITY;
}

test('not healthy within --post-reboot-timeout: uncordoned, lock kept, halted once, resumes by itself', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.podsReadyAt = Number.POSITIVE_INFINITY;
  await rebootThrough(world, clock);
  let a = agent(world, clock);
  const halted = await turn(a, clock, (action) => action === 'halt');
  assert.equal(halted.action, 'halt');
  assert.ok(clock.now().getTime() - T0 >= settings.postRebootTimeoutMs);
  assert.equal(world.node.unschedulable, false, 'uncordoned although not healthy');
  assert.match(world.lock ?? '', /"nodeID":"n1"/, 'the lock is kept');
  assert.match(world.node.annotations[CYCLE_ANNOTATION] ?? '', /"halted":"pod kube-system\/cni-x not Ready"/);
  assert.equal(world.halted, 'pod kube-system/cni-x not Ready');
  assert.ok(world.events.includes('RolloutHalted'));
  assert.equal(world.podWatches, 1, 'one pod watch while halted');

  // Time passes, the agent restarts: still halted, and no second notification.
  const { step } = await a.reconcileOnce();
  assert.deepEqual([step.action, step.action === 'wait' && step.phase], ['wait', 'halted']);
  a = agent(world, clock);
  clock.advance(3_600_000);
  await a.reconcileOnce();
  assert.equal(world.notifications.filter((n) => n.kind === 'halted').length, 1);
  assert.deepEqual(
    world.notifications.find((n) => n.kind === 'halted'),
    {
      kind: 'halted',
      node: 'n1',
      detail: 'pod kube-system/cni-x not Ready',
    },
  );

  world.podsReadyAt = clock.now().getTime();
  await turn(a, clock, (action) => action === 'release');
  assert.equal(world.lock, undefined);
  assert.equal(world.halted, undefined);
  assert.equal(world.node.annotations[CYCLE_ANNOTATION], undefined);
  assert.equal(
    world.podWatches,
    1,
    "only the restarted agent's watch is left; the killed one's never closed",
  );
});

test('a halted node released by an operator (its lock entry removed) forgets its cycle and stops watching pods', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.podsReadyAt = Number.POSITIVE_INFINITY;
  await rebootThrough(world, clock);
  const a = agent(world, clock);
  await turn(a, clock, (action) => action === 'halt');
  assert.equal(world.podWatches, 1);
  world.lock = undefined;
  await turn(a, clock, (action) => action === 'idle');
  assert.equal(world.node.annotations[CYCLE_ANNOTATION], undefined);
  assert.equal(world.podWatches, 0);
  assert.equal(world.reboots, 1);
});

test('--halt-on-failure=false: not healthy in time, the lock is released anyway (kured)', async () => {
  const world = new World();
  world.sentinel = true;
  world.podsReadyAt = Number.POSITIVE_INFINITY;
  await converge(world, new FakeClock(), { ...settings, haltOnFailure: false });
  assert.equal(world.lock, undefined);
  assert.ok((world.lockReleasedAt ?? 0) - T0 >= settings.postRebootTimeoutMs);
  assert.ok(world.events.includes('NotHealthy'));
  assert.ok(!world.notifications.some((n) => n.kind === 'halted'));
});

test('--post-reboot-timeout=0: released as soon as the node is back, pods not looked at', async () => {
  const world = new World();
  world.sentinel = true;
  world.podsReadyAt = Number.POSITIVE_INFINITY;
  await converge(world, new FakeClock(), { ...settings, postRebootTimeoutMs: 0 });
  assert.equal(world.lock, undefined);
  assert.equal(world.podWatches, 0);
});

test('releaseHalted (kured-ts resume) lets a halted node go, and refuses a node that is not halted', async () => {
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  world.podsReadyAt = Number.POSITIVE_INFINITY;
  const { node, lock } = ports(world, clock);
  assert.deepEqual(await releaseHalted(node, lock, clock.now()), {
    released: false,
    why: 'n1 is not halted (its cycle: none)',
  });
  await rebootThrough(world, clock);
  const a = agent(world, clock);
  await turn(a, clock, (action) => action === 'halt');
  assert.deepEqual(await releaseHalted(node, lock, clock.now()), {
    released: true,
    reason: 'pod kube-system/cni-x not Ready',
  });
  await turn(a, clock, (action) => action === 'idle');
  assert.equal(world.lock, undefined);
  assert.equal(world.node.annotations[CYCLE_ANNOTATION], undefined);
});

/**
 * Turns the loop (restarting on a kill) until the attempt is given up: the cycle in backoff, the
 * lock released and the cordon as it was. The failure is written first, the abort follows at the
 * next turn, so a kill between the two finds the failure and gives up all the same.
 */
async function giveUp(world: World, clock: FakeClock, preCordoned: boolean): Promise<void> {
  let current = agent(world, clock);
  for (let turn = 0; turn < 60; turn++) {
    const given =
      /"phase":"backoff"/.test(world.node.annotations[CYCLE_ANNOTATION] ?? '') &&
      world.lock === undefined &&
      world.node.unschedulable === preCordoned;
    if (given) return;
    try {
      await current.reconcileOnce();
    } catch (err) {
      if (!(err instanceof Killed)) throw err;
      world.budget = Number.POSITIVE_INFINITY;
      current = agent(world, clock);
    }
  }
  assert.fail(`never gave up: ${JSON.stringify(world.node.annotations)} lock=${world.lock}`);
}

for (const failure of ['drain', 'reboot'] as const) {
  for (const preCordoned of [false, true]) {
    test(`killed before each write of a failed ${failure}, the attempt is given up once (node ${preCordoned ? 'cordoned by an admin' : 'schedulable'} before)`, async () => {
      const setup = (w: World) => {
        w.sentinel = true;
        w.node.unschedulable = preCordoned;
        if (failure === 'drain')
          w.drainResult = { ok: false, reason: 'blocked', blockingPods: ['ns/a'], permanent: false };
        else w.rebootRefused = 'exit status 1';
      };
      const probe = new World();
      setup(probe);
      await giveUp(probe, new FakeClock(), preCordoned);
      assert.ok(probe.writes > 3, `only ${probe.writes} writes`);
      for (let k = 0; k <= probe.writes; k++) {
        const world = new World();
        setup(world);
        world.budget = k;
        await giveUp(world, new FakeClock(), preCordoned);
        assert.equal(world.reboots, 0, `kill before write ${k}: rebooted`);
        const h = parseHistory(world.node.annotations[HISTORY_ANNOTATION]);
        assert.ok('records' in h);
        assert.deepEqual(
          h.records.map((r) => r.outcome),
          ['aborted'],
          `kill before write ${k}: one aborted record`,
        );
        assert.match(
          h.records[0]?.reason ?? '',
          failure === 'drain' ? /drain failed: blocked/ : /reboot request failed: exit status 1/,
        );
      }
    });
  }
}

test('with a silence held during the reboot, killed before each write (the silence and its expiry included), one silence, expired at the end', async () => {
  // Alertmanager in memory: the companion spends a write to create or expire a silence, as the
  // real one (src/gates/silence.ts) finds a silence it made again by the cycle's comment.
  interface Silence {
    comment: string;
    expired: boolean;
  }
  const companion = (world: World, store: Map<string, Silence>): CycleCompanion => ({
    async beforeCordon(_cycle, annotations) {
      const comment = `cycle ${annotations[NEEDED_ANNOTATION] ?? '?'}`;
      const found = [...store].find(([, s]) => s.comment === comment && !s.expired);
      if (found) return { silences: [found[0]] };
      world.spend();
      const id = `s${store.size + 1}`;
      store.set(id, { comment, expired: false });
      return { silences: [id] };
    },
    async ended(cycle) {
      for (const id of cycle.silences ?? []) {
        world.spend();
        const s = store.get(id);
        if (s) s.expired = true;
      }
    },
  });
  const run = async (world: World, store: Map<string, Silence>) => {
    const clock = new FakeClock();
    let kills = 0;
    const make = () =>
      new Agent(
        {
          ...ports(world, clock),
          companion: companion(world, store),
          gates: [],
          watches: [],
          logger: pino({ level: 'silent' }),
        },
        settings,
      );
    let current = make();
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
        current = make();
      }
    }
    assert.fail('no convergence');
  };
  const probe = new World();
  probe.sentinel = true;
  await run(probe, new Map());
  for (let k = 0; k <= probe.writes; k++) {
    const world = new World();
    world.sentinel = true;
    world.budget = k;
    const store = new Map<string, Silence>();
    await run(world, store);
    assert.equal(world.reboots, 1, `kill before write ${k}`);
    assert.equal(store.size, 1, `kill before write ${k}: ${store.size} silences made`);
    assert.ok(
      [...store.values()].every((s) => s.expired),
      `kill before write ${k}: a silence left active`,
    );
  }
});
