/** The testbed's per-pod delay after a node reboot: what the annotation accepts, and its one-line error. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  DEFAULT_READY_AFTER_REBOOT_MS,
  READY_AFTER_REBOOT,
  readyDelayMs,
} from '../../../testbed/src/pod-restarts.ts';

const pod = (value?: string): V1Pod => ({
  metadata: {
    namespace: 'ns',
    name: 'web',
    ...(value === undefined ? {} : { annotations: { [READY_AFTER_REBOOT]: value } }),
  },
});

test('ready-after-reboot: default 1 s, durations in ms, s or m, or never', () => {
  assert.equal(readyDelayMs(pod()), DEFAULT_READY_AFTER_REBOOT_MS);
  assert.equal(DEFAULT_READY_AFTER_REBOOT_MS, 1000);
  assert.equal(readyDelayMs(pod('500ms')), 500);
  assert.equal(readyDelayMs(pod('5s')), 5000);
  assert.equal(readyDelayMs(pod('1.5s')), 1500);
  assert.equal(readyDelayMs(pod('2m')), 120_000);
  assert.equal(readyDelayMs(pod('0s')), 0);
  assert.equal(readyDelayMs(pod('never')), 'never');
});

test('ready-after-reboot: anything else is one line naming the pod, the value and what is accepted', () => {
  for (const bad of ['5', 'soon', '-1s', '5 h', 'Never']) {
    assert.throws(
      () => readyDelayMs(pod(bad)),
      (err: Error) =>
        err.message ===
          `pod ns/web: annotation ${READY_AFTER_REBOOT}="${bad}" is not a duration such as 500ms, 5s, 2m or "never"` &&
        !err.message.includes('\n'),
    );
  }
});
