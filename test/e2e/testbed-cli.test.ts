import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { processStartTime } from '../../testbed/src/stale.ts';

const execFileAsync = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '../../testbed/src/cli.ts');
// Own state file: a developer's `testbed up` cluster stays untouched.
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kured-ts-cli-test-'));
const env = { ...process.env, KURED_TS_TESTBED_STATE: path.join(stateDir, 'current.json') };

async function testbed(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

before(
  async () => {
    const up = await testbed('up', '--detach', '--nodes', '2', '--reboot-delay', '500');
    assert.equal(up.code, 0, up.stderr);
  },
  { timeout: 30 * 60_000 },
);

after(async () => {
  await testbed('down');
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('status lists the nodes like kubectl get nodes', async () => {
  const { code, stdout } = await testbed('status');
  assert.equal(code, 0);
  assert.match(stdout, /^NAME\s+STATUS\s+ZONE\s+BOOT-ID\s+AGE\s+VERSION$/m);
  assert.match(stdout, /^node-1\s+Ready\s+zone-a\s/m);
  assert.match(stdout, /^node-2\s+Ready\s+zone-b\s/m);
});

test('reboot reboots a node by command or by signal, and a second up is refused', async () => {
  const byCommand = await testbed('reboot', 'node-1');
  assert.equal(byCommand.code, 0, byCommand.stderr);
  assert.match(byCommand.stdout, /node-1 rebooted in [\d.]+s: boot ID \w+ -> \w+/);
  const bySignal = await testbed('reboot', 'node-2', '--signal');
  assert.equal(bySignal.code, 0, bySignal.stderr);

  const again = await testbed('up');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^testbed: a cluster is already up \(pid \d+\); stop it with `testbed down`\n$/);
});

test('user errors are one line without a stack trace', async () => {
  const unknown = await testbed('reboot', 'node-9');
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'testbed: no node named node-9 (nodes: node-1, node-2)\n');
  const badCount = await testbed('up', '--nodes', 'zero');
  assert.equal(badCount.code, 1);
  assert.match(badCount.stderr, /--nodes <n>.*must be a whole number/);
});

test('down stops the cluster and removes its temp dir', async () => {
  const state = JSON.parse(fs.readFileSync(env.KURED_TS_TESTBED_STATE, 'utf8')) as {
    dir: string;
    pid: number;
  };
  const down = await testbed('down');
  assert.equal(down.code, 0, down.stderr);
  assert.equal(fs.existsSync(state.dir), false);
  // Gone or a zombie: its parent, the `up --detach` command, exited long ago and cannot reap it.
  assert.equal(processStartTime(state.pid), undefined, 'the `up` process has exited');
  const status = await testbed('status');
  assert.equal(status.code, 1);
  assert.equal(status.stderr, 'testbed: no cluster is up; start one with `testbed up`\n');
});
