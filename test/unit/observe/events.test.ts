/** Node Events leave in the background, yet read in the order they were recorded. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Kube } from '../../../src/kube/client.ts';
import { NodeEvents } from '../../../src/observe/events.ts';

/** Our Kube client's create, answering each call after `delayMs`. */
function recordingKube(delayMs: number) {
  const sent: { reason: string; eventTime: string }[] = [];
  const kube = {
    create: async (_path: string, body: { reason: string; eventTime: string }) => {
      await new Promise((r) => setTimeout(r, delayMs));
      sent.push({ reason: body.reason, eventTime: body.eventTime });
      return body;
    },
  } as unknown as Kube;
  return { kube, sent };
}

test('record returns at once; flush waits for every Event; times follow the order of recording', async () => {
  const { kube, sent } = recordingKube(30);
  const events = new NodeEvents(kube, { name: 'n1', uid: '' }, pino({ level: 'silent' }));
  const t0 = Date.now();
  for (const reason of ['Cordoned', 'Draining', 'Drained', 'Rebooting'])
    events.record('Normal', reason, 'x', reason);
  assert.ok(Date.now() - t0 < 20, 'record did not wait for the API server');
  assert.equal(sent.length, 0);
  await events.flush();
  assert.equal(sent.length, 4);
  const byTime = [...sent].sort((a, b) => Date.parse(a.eventTime) - Date.parse(b.eventTime));
  assert.deepEqual(
    byTime.map((e) => e.reason),
    ['Cordoned', 'Draining', 'Drained', 'Rebooting'],
  );
  assert.equal(new Set(sent.map((e) => Date.parse(e.eventTime))).size, 4, 'no two share a millisecond');
});
