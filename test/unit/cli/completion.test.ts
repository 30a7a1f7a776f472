import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { completionScript, kubectlCompletion } from '../../../src/cli/completion.ts';

test('kubectl kured-ts <TAB>: commands, then their flags, -o values, shells; no file completion', () => {
  assert.deepEqual(kubectlCompletion(['']), [
    'status',
    'plan',
    'reboot',
    'pause',
    'resume',
    'history',
    'completion',
    ':4',
  ]);
  assert.deepEqual(kubectlCompletion(['p']), ['plan', 'pause', ':4']);
  assert.deepEqual(kubectlCompletion(['plan', '--p']), ['--prometheus-url', ':4']);
  assert.deepEqual(kubectlCompletion(['status', '-o', '']), ['wide', 'json', 'yaml', ':4']);
  assert.deepEqual(kubectlCompletion(['--context', 'x', 'pause', '--r']), ['--reason', ':4']);
  assert.deepEqual(kubectlCompletion(['completion', 'z']), ['zsh', ':4']);
  assert.deepEqual(kubectlCompletion(['reboot', 'node-1', '--d']), ['--ds-name', '--dry-run', ':4']);
});

test('the bash script completes commands and -o values in a real bash', () => {
  const complete = (line: string) =>
    execFileSync(
      'bash',
      [
        '-c',
        `${completionScript('bash', 'kured-ts')}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _kured_ts_complete; echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: 'utf8' },
    ).trim();
  assert.equal(complete("kured-ts 're'"), 'reboot resume');
  assert.equal(complete("kured-ts reboot '--ig'"), '--ignore-window --ignore-alerts');
  assert.equal(complete("kured-ts status -o 'j'"), 'json');
  assert.equal(complete("kured-ts plan '--pro'"), '--prometheus-url');
});
