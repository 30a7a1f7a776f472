/** values.schema.json turns a bad value into helm's one-line "at '/path': why" message. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { helmBinary } from '../../../scripts/render-manifests.ts';
import { CHART_DIR, helm } from './render.ts';

let bin: string;
before(async () => {
  bin = await helmBinary();
});

function templateError(...set: string[]): string {
  const r = helm(bin, ['template', 'x', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
  assert.notEqual(r.status, 0, `helm accepted ${set.join(' ')}`);
  return r.stderr;
}

describe('chart values schema', () => {
  const cases: [string, RegExp][] = [
    ['configuration.concurrency=0', /at '\/configuration\/concurrency': minimum: got 0, want 1/],
    ['configuration.concurrency=one', /at '\/configuration\/concurrency': got string, want integer/],
    ['configuration.maxZones=-1', /at '\/configuration\/maxZones'/],
    [
      'configuration.rebootMethod=reboot',
      /at '\/configuration\/rebootMethod': value must be one of '', 'command', 'signal'/,
    ],
    [
      'configuration.logFormat=xml',
      /at '\/configuration\/logFormat': value must be one of '', 'text', 'json'/,
    ],
    ['configuration.period=1hour', /at '\/configuration\/period'.*\n(.*\n)*.*'1hour' does not match pattern/],
    ['configuration.metricsPort=http', /at '\/configuration\/metricsPort': got string, want integer/],
    [
      'configuration.metricsPort=70000',
      /at '\/configuration\/metricsPort': maximum: got 70,000, want 65,535/,
    ],
    [
      'configuration.preRebootNodeLabels={nolabel}',
      /at '\/configuration\/preRebootNodeLabels\/0': 'nolabel' does not match/,
    ],
    [
      'configuration.rebootSentinel=relative/path',
      /at '\/configuration\/rebootSentinel': 'relative\/path' does not match/,
    ],
    ['updateStrategy=Recreate', /at '\/updateStrategy': value must be one of 'RollingUpdate', 'OnDelete'/],
  ];
  for (const [set, message] of cases) {
    it(`rejects ${set}`, () => {
      const stderr = templateError(set);
      assert.match(stderr, /values don't meet the specifications of the schema/);
      assert.match(stderr, message);
    });
  }

  it('accepts the values kured users write: durations, 0, empty strings', () => {
    for (const set of [
      'configuration.period=90m',
      'configuration.lockTtl=0',
      'configuration.drainTimeout=1h30m',
      'configuration.rebootMethod=signal',
      'configuration.drainGracePeriod=-1',
    ]) {
      const r = helm(bin, ['template', 'x', CHART_DIR, '--set', set]);
      assert.equal(r.status, 0, `${set}: ${r.stderr}`);
    }
  });
});
