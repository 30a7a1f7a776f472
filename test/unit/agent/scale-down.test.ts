/**
 * The autoscaler/Karpenter protection: set from the cordon, kept --scale-down-grace after the lock
 * is released, put back exactly as before (an operator's own value is never removed), with no read
 * or write of its own while the agent is quiet but the one that puts it back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.ts';
import {
  AUTOSCALER_ANNOTATION as AUTOSCALER,
  afterRelease,
  KARPENTER_ANNOTATION as KARPENTER,
  protection,
  PROTECTION_ANNOTATION as RECORD,
  recordAtAcquire,
} from '../../../src/agent/scale-down.ts';
import type { AgentSettings } from '../../../src/agent/settings.ts';
import { CYCLE_ANNOTATION } from '../../../src/core/cycle.ts';
import { FakeClock, Killed, plainSettings, ports, World } from '../support/fakes.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const GRACE = 10 * 60_000;

test('the record keeps what was there: absent, or an operator value; a record in its grace keeps its own', () => {
  assert.deepEqual(JSON.parse(recordAtAcquire({ [KARPENTER]: 'false' })[RECORD]!), {
    prior: { [AUTOSCALER]: null, [KARPENTER]: 'false' },
  });
  const inGrace = {
    [AUTOSCALER]: 'true',
    [KARPENTER]: 'true',
    [RECORD]: JSON.stringify({
      prior: { [AUTOSCALER]: null, [KARPENTER]: 'false' },
      until: NOW.toISOString(),
    }),
  };
  assert.deepEqual(JSON.parse(recordAtAcquire(inGrace)[RECORD]!), {
    prior: { [AUTOSCALER]: null, [KARPENTER]: 'false' },
  });
});

test('protection: both "true" once recorded; nothing without a record or when already there', () => {
  const record = recordAtAcquire({});
  assert.deepEqual(protection(record), { [AUTOSCALER]: 'true', [KARPENTER]: 'true' });
  assert.equal(protection({}), undefined);
  assert.equal(protection({ ...record, [AUTOSCALER]: 'true', [KARPENTER]: 'true' }), undefined);
});

test('after the release: the grace recorded, then everything put back, operator values kept', () => {
  const during = {
    ...recordAtAcquire({ [KARPENTER]: 'false' }),
    [AUTOSCALER]: 'true',
    [KARPENTER]: 'true',
  };
  assert.deepEqual(afterRelease(during, true, NOW, GRACE), {}, 'nothing while the cycle holds');
  const ended = afterRelease(during, false, NOW, GRACE);
  const until = new Date(NOW.getTime() + GRACE);
  assert.equal(ended.restoreAt, until.getTime());
  const graced = { ...during, ...(ended.patch as Record<string, string>) };
  assert.deepEqual(afterRelease(graced, false, new Date(until.getTime() - 1), GRACE), {
    restoreAt: until.getTime(),
  });
  assert.deepEqual(afterRelease(graced, false, until, GRACE).patch, {
    [AUTOSCALER]: null,
    [KARPENTER]: 'false',
    [RECORD]: null,
  });
  // No grace: put back at once. An unreadable record: only the record goes.
  assert.deepEqual(afterRelease(during, false, NOW, 0).patch, {
    [AUTOSCALER]: null,
    [KARPENTER]: 'false',
    [RECORD]: null,
  });
  assert.deepEqual(afterRelease({ [RECORD]: '{oops' }, false, NOW, GRACE).patch, { [RECORD]: null });
});

test('a quiet agent puts the annotations back at its first look after the grace, not before', async () => {
  const settings: AgentSettings = {
    ...plainSettings,
    scaleDownProtection: true,
    scaleDownGraceMs: GRACE,
    rebootRequestPeriodMs: 5 * 60_000,
  };
  const world = new World();
  const clock = new FakeClock();
  world.sentinel = true;
  const start = () =>
    new Agent(
      { ...ports(world, clock), gates: [], watches: [], logger: pino({ level: 'silent' }) },
      settings,
    );
  let agent = start();
  for (let i = 0; i < 30; i++) {
    try {
      const { step } = await agent.reconcileOnce();
      if (step.action === 'idle' && !world.node.annotations[CYCLE_ANNOTATION] && world.lock === undefined)
        break;
      if (step.action === 'wait') clock.advance(1000);
    } catch (err) {
      // The reboot takes the agent with it; the kubelet starts a new one.
      if (!(err instanceof Killed)) throw err;
      world.budget = Number.POSITIVE_INFINITY;
      agent = start();
    }
  }
  // The look that records the grace's end, then one more: quiet from here.
  await agent.reconcileOnce();
  await agent.reconcileOnce();
  const at = world.annotationsAtReboot;
  assert.equal(world.reboots, 1);
  assert.equal(at?.[AUTOSCALER], 'true');
  assert.equal(at?.[KARPENTER], 'true');
  // Released: kept through the grace.
  assert.equal(world.node.annotations[AUTOSCALER], 'true');
  assert.match(world.node.annotations[RECORD] ?? '', /"until"/);
  clock.advance(GRACE - 60_000);
  await agent.reconcileOnce();
  assert.equal(world.node.annotations[AUTOSCALER], 'true', 'put back before the grace ended');
  clock.advance(5 * 60_000);
  await agent.reconcileOnce();
  assert.equal(world.node.annotations[AUTOSCALER], undefined);
  assert.equal(world.node.annotations[KARPENTER], undefined);
  assert.equal(world.node.annotations[RECORD], undefined);
});
