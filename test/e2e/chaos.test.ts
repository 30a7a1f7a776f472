/**
 * The chaos bench in CI (docs/reliability.md): first its self-test (agents at a higher concurrency
 * than the checker allows, no faults: the checker must see the breach), then a short run with a fixed
 * seed: every kind of fault on a small fleet, at --concurrency=1 and at --concurrency=2 --max-zones=1,
 * and no violation, every end check met. `make chaos` is the long run at 100 nodes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_KINDS } from '../../bench/chaos/faults.ts';
import { formatReport, runChaos } from '../../bench/chaos/run.ts';

const quiet = () => {};

test('self-test: the checker sees agents disrupting more nodes than allowed', async () => {
  const report = await runChaos({
    nodes: 8,
    seed: 7,
    faultMs: 45_000,
    settings: [{ concurrency: 3, maxZones: 0, checkConcurrency: 1 }],
    faultIntervalMs: 1000,
    processAgents: 0,
    settleTimeoutMs: 180_000,
    noFaults: true,
    log: quiet,
  });
  const v = report.phases[0]!.violations;
  assert.ok(
    v.some((x) => x.invariant === 'at most 1 node(s) disrupted'),
    `the checker saw no breach:\n${formatReport(report)}`,
  );
});

test('a short chaos run with a fixed seed: nearly every fault kind, no violation, everything settles', async () => {
  const report = await runChaos({
    nodes: 12,
    seed: 2121,
    faultMs: 100_000,
    settings: [
      { concurrency: 1, maxZones: 0 },
      { concurrency: 2, maxZones: 1 },
    ],
    faultIntervalMs: 2500,
    processAgents: 1,
    settleTimeoutMs: 300_000,
    log: quiet,
  });
  const text = formatReport(report);
  console.log(text);
  for (const p of report.phases) {
    assert.deepEqual(p.violations, [], `violations at ${p.setting}:\n${text}`);
    assert.deepEqual(p.endFailures, [], `end checks at ${p.setting}:\n${text}`);
  }
  const seen = FAULT_KINDS.filter((k) => report.phases.some((p) => p.faults[k] > 0));
  // At most two kinds that found no target in so short a run.
  assert.ok(seen.length >= FAULT_KINDS.length - 2, `only ${seen.join(', ')} were injected:\n${text}`);
});
