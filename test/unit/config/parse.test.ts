/** Bad input: every flag is checked before the environment, and every problem is reported at once. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/parse.ts';
import { ConfigError } from '../../../src/core/errors.ts';

/** The problems parseConfig reports, one per line; [] when it accepts the input. */
function problems(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    parseConfig(argv, env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${err}`);
    return err.message.split('\n');
  }
}

test('a bad day without a node name reports the bad day first, then the missing node name', () => {
  assert.deepEqual(problems(['--reboot-days=funday']), [
    '--reboot-days: unknown day "funday"; use su,mo,tu,we,th,fr,sa, full names, or 0-6 (0 = Sunday)',
    'no node name: set KURED_NODE_ID (the DaemonSet sets it from spec.nodeName) or --node-id',
  ]);
});

test('every problem is reported, one line each, flags before the environment', () => {
  const lines = problems([
    '--perod=1h',
    'stray',
    '--concurrency=0',
    '--period=soon',
    '--reboot-days=mo,funday',
    '--start-time=25:00',
    '--time-zone=Mars/Base',
    '--prometheus-url=ftp://prometheus',
    "--reboot-command='unterminated",
    '--post-reboot-node-labels=broken',
  ]);
  const expected = [
    /^unknown option '--perod=1h'; see kured-ts --help$/,
    /^unexpected argument 'stray'/,
    /^--period: "soon" is not a duration/,
    /^--concurrency must be 1 or more, not 0$/,
    /^--reboot-days: unknown day "funday"/,
    /^--start-time: cannot read "25:00"/,
    /^--time-zone: .*Mars\/Base/,
    /^--prometheus-url: scheme ftp: is not supported/,
    /^--reboot-command .* check its quotes$/,
    /^--post-reboot-node-labels: "broken" is not a label/,
    /^no node name: set KURED_NODE_ID/,
  ];
  assert.equal(lines.length, expected.length, lines.join('\n'));
  for (const [i, re] of expected.entries()) assert.match(lines[i]!, re);
});

test('values from the environment are checked like flags, before the node name', () => {
  assert.deepEqual(
    problems([], { KURED_REBOOT_DAYS: 'someday', KURED_CONCURRENCY: 'two' }).map((l) => l.split(':')[0]),
    ['--concurrency', '--reboot-days', 'no node name'],
  );
});

test('good input has no problem', () => {
  assert.deepEqual(
    problems(['--reboot-days=mo,fr', '--start-time=22:00', '--time-zone=Europe/Paris'], {
      KURED_NODE_ID: 'n1',
    }),
    [],
  );
});

test('the command line reads as it always has: values, booleans, repeats, strays', () => {
  const env = { KURED_NODE_ID: 'n1' };
  const c = parseConfig(
    ['--force-reboot', 'false', '--annotate-nodes', '--drain-grace-period', '-1', '--reboot-days', 'mo,tu'],
    env,
  );
  assert.deepEqual(
    [c.forceReboot, c.annotateNodes, c.drainGracePeriod, c.rebootDays],
    [false, true, -1, ['mo', 'tu']],
  );
  // A boolean takes the next word unless it is another option; a value flag takes it whatever it is.
  assert.equal(parseConfig(['--annotate-nodes', '--force-reboot'], env).forceReboot, true);
  assert.deepEqual(problems(['--max-zones', '-1'], env), [
    '--max-zones must be 0 (no zone rule) or more, not -1',
  ]);
  assert.deepEqual(problems(['--perod', '1h', '-abc', '--', '--period=1m'], env), [
    "unknown option '--perod'; see kured-ts --help",
    "unexpected argument '1h'; flags are written --flag=value",
    "unknown option '-abc'; see kured-ts --help",
    "unknown option '--'; see kured-ts --help",
    "unknown option '--period=1m'; see kured-ts --help",
  ]);
  assert.deepEqual(problems(['--period'], env), [
    "option '--period <value>' argument missing; see kured-ts --help",
  ]);
});
