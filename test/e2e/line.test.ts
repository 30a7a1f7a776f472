/**
 * The waiting line (src/kube/line.ts) on the real API server: Leases named by the time their node
 * got in line come back in that order, a page at a time, so naming the next reads the head of the
 * line only; getting in line twice is one entry; leaving takes out every entry of a node; a node
 * passed over loses the entries seen, not one it made since.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type Kube } from '../../src/kube/client.ts';
import { entryName, LeaseLine } from '../../src/kube/line.ts';
import { type Cluster, startCluster } from '../../testbed/src/index.ts';

const LOCK = { namespace: 'kube-system', name: 'kured' };
let cluster: Cluster;
let kube: Kube;

before(async () => {
  cluster = await startCluster({ nodes: 1 });
  kube = connect({ KUBECONFIG: cluster.kubeconfigPath });
});
after(async () => {
  await cluster?.stop();
});

/** The LIST requests the line makes, counted at the client. */
function counting(k: Kube): { kube: Kube; lists: () => number } {
  let n = 0;
  const counted = Object.create(k) as Kube;
  counted.list = (path, query, signal) => {
    n++;
    return k.list(path, query, signal);
  };
  return { kube: counted, lists: () => n };
}

async function empty(line: LeaseLine, nodes: string[]): Promise<void> {
  for (const n of nodes) await line.leave(n);
}

test('the line comes back first come first served, a page at a time, and stops reading once it has enough', async () => {
  const base = Date.now();
  const nodes = Array.from({ length: 30 }, (_, i) => `node-${i}`);
  // Got in line in this order (node-29 first), created in another (shuffled): the name decides.
  const order = nodes.toReversed();
  const shuffled = nodes.toSorted(() => Math.random() - 0.5);
  const writer = new LeaseLine(kube, LOCK, 7);
  for (const n of shuffled)
    await writer.join(n, base + order.indexOf(n) * 10, n.endsWith('1') ? 'zone-b' : '');
  try {
    const all = await writer.waiting();
    assert.deepEqual(
      all.map((w) => w.name),
      order,
    );
    assert.equal(all.find((w) => w.name === 'node-21')?.zone, 'zone-b');
    assert.equal(all[0]?.since, base);

    const c = counting(kube);
    const head = await new LeaseLine(c.kube, LOCK, 7).waiting((line) => line.length >= 3);
    assert.deepEqual(
      head.map((w) => w.name),
      order.slice(0, 7),
      'one page: the head of the line',
    );
    assert.equal(c.lists(), 1);
    const more = await new LeaseLine(c.kube, LOCK, 7).waiting((line) => line.length >= 10);
    assert.deepEqual(
      more.map((w) => w.name),
      order.slice(0, 14),
    );
    assert.equal(c.lists(), 3, 'two more pages, not the whole line');
  } finally {
    await empty(writer, nodes);
  }
  assert.deepEqual(await writer.waiting(), []);
});

test('getting in line twice is one entry; a node with two (a crash) stands at the first; leaving takes out both', async () => {
  const line = new LeaseLine(kube, LOCK, 10);
  const t = Date.now();
  await line.join('node-a', t, '');
  await line.join('node-a', t, '');
  await line.join('node-b', t + 1, '');
  assert.deepEqual(await line.entriesOf('node-a'), [t]);
  await line.join('node-a', t + 2, '');
  assert.deepEqual(
    (await line.waiting()).map((w) => [w.name, w.since]),
    [
      ['node-a', t],
      ['node-b', t + 1],
    ],
  );
  await line.leave('node-a');
  assert.deepEqual(await line.entriesOf('node-a'), []);
  assert.deepEqual(
    (await line.waiting()).map((w) => w.name),
    ['node-b'],
  );
  await line.leave('node-b');
});

test('a node passed over loses the entries seen, not the one it made since', async () => {
  const line = new LeaseLine(kube, LOCK, 10);
  const t = Date.now();
  await line.join('node-c', t, '');
  const seen = await line.entriesOf('node-c');
  // Meanwhile node-c saw its label go and got in line again, at the back.
  await line.join('node-c', t + 5000, '');
  await line.remove('node-c', seen);
  assert.deepEqual(await line.entriesOf('node-c'), [t + 5000]);
  await line.leave('node-c');
});

test('a node name too long for a label or beside the prefix is hashed in its entry, and found again', async () => {
  const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}`;
  assert.ok(entryName('kured', long, 1).length <= 253);
  const line = new LeaseLine(kube, LOCK, 10);
  const t = Date.now();
  await line.join(long, t, 'zone-a');
  assert.deepEqual(await line.waiting(), [{ name: long, since: t, zone: 'zone-a' }]);
  await line.leave(long);
  assert.deepEqual(await line.waiting(), []);
});

test('two fleets in one namespace (two lock DaemonSets) keep two lines', async () => {
  const a = new LeaseLine(kube, LOCK, 10);
  const b = new LeaseLine(kube, { ...LOCK, name: 'kured-gpu' }, 10);
  const t = Date.now();
  await a.join('node-a', t, '');
  await b.join('node-a', t + 1, '');
  await b.join('node-b', t, '');
  assert.deepEqual(
    (await a.waiting()).map((w) => w.name),
    ['node-a'],
  );
  await a.leave('node-a');
  assert.deepEqual(
    (await b.waiting()).map((w) => w.name),
    ['node-b', 'node-a'],
  );
  await b.leave('node-a');
  await b.leave('node-b');
});
