/** The watch cache: offered only while it is known current, never older than a write of ours. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WatchedObject } from '../../../src/kube/watch.ts';

const obj = (rv: string, v = rv) => ({ metadata: { name: 'x', resourceVersion: rv, annotations: { v } } });

test('nothing is offered before the watch has shown the object, or after a gap', () => {
  const c = new WatchedObject();
  assert.equal(c.current(), undefined);
  c.reset();
  c.object(obj('1'));
  assert.equal(c.current()?.obj?.metadata?.resourceVersion, '1');
  c.gap();
  assert.equal(c.current(), undefined);
  c.object(obj('2'));
  assert.equal(c.current()?.obj?.metadata?.resourceVersion, '2');
});

test('after our write, nothing is offered until the watch shows its version', () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.wrote('3');
  assert.equal(c.current(), undefined);
  c.object(obj('2')); // someone else's older change, still on its way
  assert.equal(c.current(), undefined);
  c.object(obj('3'));
  assert.equal(c.current()?.obj?.metadata?.resourceVersion, '3');
});

test('a write whose answer comes after the watch showed it is not waited for', () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.object(obj('2'));
  c.wrote('2');
  assert.equal(c.current()?.obj?.metadata?.resourceVersion, '2');
});

test('a write of unknown outcome: nothing offered until the watch starts over', () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.wrote(undefined);
  c.object(obj('2'));
  assert.equal(c.current(), undefined);
  c.gap();
  c.object(obj('3')); // resumed: still could be older than the write
  assert.equal(c.current(), undefined);
  c.reset();
  c.object(obj('4'));
  assert.equal(c.current()?.obj?.metadata?.resourceVersion, '4');
});

test('a deleted object is offered as undefined', () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.object(undefined);
  assert.deepEqual(c.current(), { obj: undefined });
});

test('a read waits for the running watch to show our write, instead of asking the API server', async () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.wrote('2');
  const read = c.settled(5000);
  setTimeout(() => c.object(obj('2')), 20);
  assert.equal((await read)?.obj?.metadata?.resourceVersion, '2');
});

test('without a running watch, or after a write of unknown outcome, a read does not wait', async () => {
  const idle = new WatchedObject();
  const t0 = Date.now();
  assert.equal(await idle.settled(5000), undefined);
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.wrote(undefined);
  assert.equal(await c.settled(5000), undefined);
  assert.ok(Date.now() - t0 < 1000);
});

test('a watch that breaks, or does not catch up in time, leaves the read to the API server', async () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  c.wrote('2');
  const read = c.settled(5000);
  c.gap();
  assert.equal(await read, undefined);
  c.object(obj('1'));
  c.wrote('3');
  assert.equal(await c.settled(10), undefined);
});

test('after a refused write, the version it was guarded by is not offered; the next the watch shows is', async () => {
  const c = new WatchedObject();
  c.reset();
  c.object(obj('1'));
  assert.equal(c.current('1'), undefined);
  const next = c.settled(1000, '1');
  c.object(obj('2')); // the winner's write
  assert.equal((await next)?.obj?.metadata?.resourceVersion, '2');
  // No newer version within the wait: the caller reads from the API.
  assert.equal(await c.settled(10, '2'), undefined);
});
