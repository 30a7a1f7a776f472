import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arrows, FLOORS, picture, violations } from '../../scripts/layers.ts';

test('every import in src/ runs down a floor: no arrow up or sideways, nothing outside src/', () => {
  const all = arrows();
  assert.ok(all.length > 50, `read only ${all.length} imports between rooms: the reader is broken`);
  assert.deepEqual(violations(all), [], picture(all));
});

test('the ground floor imports nothing of ours; only main.ts and wire.ts sit above cli', () => {
  const all = arrows();
  assert.deepEqual(
    all.filter((a) => a.from === 'core'),
    [],
  );
  assert.deepEqual(FLOORS.slice(0, 2), [['main.ts'], ['wire.ts']]);
});

test('the check names an upward, a sideways and an outside import', () => {
  const made = [
    { from: 'kube', to: 'agent', file: 'src/kube/x.ts', spec: '../agent/agent.ts' },
    { from: 'notify', to: 'observe', file: 'src/notify/y.ts', spec: '../observe/log.ts' },
    { from: 'cli', to: 'testbed/src/index.ts', file: 'src/cli/z.ts', spec: '../../testbed/src/index.ts' },
  ];
  const wrong = violations(made);
  assert.equal(wrong.length, 3, wrong.join('\n'));
  assert.match(wrong[0]!, /src\/kube -> src\/agent runs up a floor/);
  assert.match(wrong[1]!, /sideways/);
  assert.match(wrong[2]!, /outside src\//);
});
