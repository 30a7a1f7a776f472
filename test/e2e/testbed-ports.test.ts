import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureBinaries } from '../../testbed/src/build.ts';
import { type Etcd, startEtcd, waitEtcd } from '../../testbed/src/etcd.ts';
import { TEMP_DIR_PREFIX } from '../../testbed/src/paths.ts';
import { withFreshPorts } from '../../testbed/src/ports.ts';
import type { Component } from '../../testbed/src/process.ts';
import { removeClusterDir, writeDirState } from '../../testbed/src/stale.ts';

test('a component whose port was taken meanwhile is started again on a fresh port', {
  timeout: 30 * 60_000,
}, async () => {
  const bins = await ensureBinaries();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), TEMP_DIR_PREFIX));
  fs.mkdirSync(path.join(dir, 'logs'));
  writeDirState(dir, {});
  // Another server on the port, answering health checks as an etcd would: it must not be mistaken for ours.
  const squatter = http.createServer((_req, res) => res.end('{"health":"true"}'));
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const taken = (squatter.address() as AddressInfo).port;
  const started: Component[] = [];
  try {
    const etcd: Etcd = await withFreshPorts(
      (attempt) => startEtcd(bins.etcd, dir, attempt === 1 ? taken : undefined),
      (c) => started.push(c),
      (e) => waitEtcd(e, 20_000),
    );
    assert.equal(started.length, 2, 'one failed start, one good');
    assert.ok(started[0]!.hasExited());
    assert.match(fs.readFileSync(started[0]!.logFile, 'utf8'), /address already in use/);
    assert.notEqual(etcd.port, taken);
    const health = await fetch(`${etcd.url}/health`);
    assert.equal(health.status, 200);
  } finally {
    await Promise.allSettled(started.map((c) => c.stop(500)));
    squatter.close();
    removeClusterDir(dir);
  }
});
