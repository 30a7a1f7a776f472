/** The testbed at scale: waits that grow with the node count, quiet simulated kubelets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heartbeatEvery } from '../../../testbed/src/kwok.ts';
import { controlPlaneQps, scaledTimeoutMs } from '../../../testbed/src/scale.ts';

const STAGES = [
  'kind: Stage\nmetadata:\n  name: node-initialize\nspec:\n  delay:\n    durationMilliseconds: 1000\n    jitterDurationMilliseconds: 1000\n',
  'kind: Stage\nmetadata:\n  name: node-heartbeat-with-lease\nspec:\n  delay:\n    durationMilliseconds: 600000\n    jitterDurationMilliseconds: 610000\n  next: {}\n',
].join('\n---\n');

test('a wait is its base up to 100 nodes and grows by its share per node beyond', () => {
  assert.equal(scaledTimeoutMs(30_000, 5, 100), 30_000);
  assert.equal(scaledTimeoutMs(30_000, 100, 100), 30_000);
  assert.equal(scaledTimeoutMs(30_000, 1000, 100), 120_000);
  assert.equal(scaledTimeoutMs(30_000, 5000, 100), 520_000);
});

test("the control plane's client rate is raised only past 200 nodes (every e2e size keeps the defaults)", () => {
  assert.equal(controlPlaneQps(100), undefined);
  assert.deepEqual(controlPlaneQps(1000), { qps: 200, burst: 400 });
});

test("quiet kubelets: only the heartbeat stage's delay changes", () => {
  const out = heartbeatEvery(STAGES, 1_800_000);
  const [init, beat] = out.split('\n---\n');
  assert.match(init!, /durationMilliseconds: 1000\n\s+jitterDurationMilliseconds: 1000/);
  assert.match(beat!, /durationMilliseconds: 1800000\n\s+jitterDurationMilliseconds: 1800000/);
  const noDelay = 'kind: Stage\nmetadata:\n  name: node-heartbeat-with-lease\nspec:\n  next: {}\n';
  assert.throws(() => heartbeatEvery(noDelay, 1000), /heartbeatEvery/);
});
