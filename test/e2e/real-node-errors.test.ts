/**
 * The real node says in one line what is wrong instead of hanging: no qemu, no mmdebstrap, a guest
 * build that fails (and leaves no half cache), a guest that never answers (the console's last lines).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Cluster } from '../../testbed/src/index.ts';
import { cachedGuest } from '../../testbed/src/realnode/guest.ts';
import { startRealNode } from '../../testbed/src/realnode/node.ts';
import { Vm } from '../../testbed/src/realnode/vm.ts';

const BUILD_CLI = path.join(import.meta.dirname, '../../testbed/src/realnode/build-cli.ts');
const dir = fs.mkdtempSync(path.join(tmpdir(), 'kured-ts-realnode-errors-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A PATH dir holding only node (and whatever `extra` names). */
function binDir(name: string, extra: Record<string, string> = {}): string {
  const bin = path.join(dir, name);
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const [file, script] of Object.entries(extra))
    fs.writeFileSync(path.join(bin, file), script, { mode: 0o755 });
  return bin;
}

function buildGuest(env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BUILD_CLI], { env, encoding: 'utf8', timeout: 120_000 });
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.includes(' ... (first run only'));
  return { status: r.status, lines, stderr: r.stderr };
}

test('no mmdebstrap: one line naming it and how to install it', () => {
  const r = buildGuest({ PATH: binDir('bin-none'), HOME: dir, XDG_CACHE_HOME: path.join(dir, 'cache-none') });
  assert.equal(r.status, 1);
  assert.equal(r.lines.length, 1, r.stderr);
  assert.match(
    r.lines[0]!,
    /needs `mmdebstrap`, which is not on PATH; install it with `make realnode-tools`/,
  );
});

test("a guest build that fails: one line with the build log's last lines, no half cache", () => {
  const fake = binDir('bin-failing', {
    mmdebstrap: '#!/bin/sh\necho "E: cannot download the packages from the mirror" >&2\nexit 1\n',
  });
  const cache = path.join(dir, 'cache-failing');
  const r = buildGuest({ PATH: `${fake}:${process.env.PATH}`, HOME: dir, XDG_CACHE_HOME: cache });
  assert.equal(r.status, 1);
  assert.equal(r.lines.length, 1, r.stderr);
  assert.match(
    r.lines[0]!,
    /building the real node's guest failed: mmdebstrap exited with 1; .*cannot download the packages/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.deepEqual(fs.readdirSync(path.join(cache, 'kured-ts', 'testbed')), []);
});

test('no qemu: one line naming it, before anything is built or booted', async () => {
  const saved = process.env.PATH;
  process.env.PATH = binDir('bin-noqemu');
  try {
    await assert.rejects(
      startRealNode({} as Cluster),
      /needs `qemu-system-x86_64`, which is not on PATH; install it with `make realnode-tools` \(apt-get install qemu-system-x86\)/,
    );
  } finally {
    process.env.PATH = saved;
  }
});

test("a guest that never comes up: the wait ends with the console's last lines", {
  timeout: 5 * 60_000,
}, async (t) => {
  const guest = cachedGuest();
  if (!guest) {
    // make test builds the guest first (make realnode); alone, this test needs it too.
    assert.fail("the real node's guest is not built: run make realnode");
  }
  const vmDir = path.join(dir, 'vm');
  fs.mkdirSync(vmDir);
  const data = path.join(vmDir, 'data.img');
  spawnSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', data, '8M']);
  // init=/bin/false: the kernel boots, init exits, the kernel panics and waits for ever.
  const vm = new Vm({
    name: 'broken',
    guest,
    dataDisk: data,
    dir: vmDir,
    forward: [],
    extraKernelArgs: 'init=/bin/false',
  });
  vm.start();
  t.after(() => vm.stop());
  await assert.rejects(vm.waitShell(90_000, 'first boot'), (err: Error) => {
    assert.match(err.message, /did not answer within 90s \(first boot\); its console's last lines:/);
    assert.match(err.message, /Kernel panic/);
    return true;
  });
});
