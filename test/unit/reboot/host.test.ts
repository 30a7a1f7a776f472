import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../../../src/core/errors.ts';
import { hostCommand } from '../../../src/reboot/host.ts';
import { commandRebooter } from '../../../src/reboot/rebooter.ts';
import { commandSentinel, fileSentinel } from '../../../src/reboot/sentinel.ts';

const logger = pino({ level: 'silent' });

test('host commands are split like a shell would, without a shell, and wrapped in nsenter', () => {
  const cmd = hostCommand(
    `sh -c "! needs-restarting --reboothint"`,
    '/usr/bin/nsenter',
    1,
    '--reboot-sentinel-command',
  );
  assert.deepEqual(cmd.argv, [
    '/usr/bin/nsenter',
    '-m/proc/1/ns/mnt',
    '--',
    'sh',
    '-c',
    '! needs-restarting --reboothint',
  ]);
  assert.deepEqual(hostCommand('/bin/systemctl reboot', '', 1, 'x').argv, ['/bin/systemctl', 'reboot']);
  assert.throws(() => hostCommand('  ', '', 1, '--reboot-command'), ConfigError);
  assert.throws(() => hostCommand('echo "unclosed', '', 1, '--reboot-command'), /cannot be split into words/);
});

test('sentinel command: exit 0 means needed, 1 not, anything else is a broken check read as not needed', async () => {
  const run = (code: number) =>
    commandSentinel(hostCommand(`sh -c "exit ${code}"`, '', 1, 'x'), logger).rebootRequired();
  assert.equal(await run(0), true);
  assert.equal(await run(1), false);
  assert.equal(await run(127), false);
});

test('a missing binary is an error naming it, not an answer', async () => {
  const sentinel = commandSentinel(hostCommand('/nonexistent/needs-restarting', '', 1, 'x'), logger);
  await assert.rejects(sentinel.rebootRequired(), /cannot run \/nonexistent\/needs-restarting: ENOENT/);
});

test('the reboot command fails loudly with its exit code and output', async () => {
  await assert.rejects(
    commandRebooter(hostCommand('sh -c "echo inhibited >&2; exit 3"', '', 1, 'x')).reboot(),
    /exited 3: inhibited/,
  );
  await commandRebooter(hostCommand('true', '', 1, 'x')).reboot();
});

test('the sentinel file: present or not, and its appearance is seen through the watch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kured-ts-sentinel-'));
  try {
    const path = join(dir, 'reboot-required');
    const sentinel = fileSentinel(path, logger);
    assert.equal(await sentinel.rebootRequired(), false);
    const seen = new Promise<void>((resolve) => {
      const stop = sentinel.watch(() => {
        stop();
        resolve();
      });
    });
    writeFileSync(path, '');
    await seen;
    assert.equal(await sentinel.rebootRequired(), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
