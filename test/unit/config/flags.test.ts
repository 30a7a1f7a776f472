import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseGoDuration } from '../../../src/config/duration.ts';
import { envName, FLAGS } from '../../../src/config/flags.ts';
import { parseConfig } from '../../../src/config/parse.ts';
import { ConfigError } from '../../../src/core/errors.ts';

const env = { KURED_NODE_ID: 'n1' };

test("defaults are kured's", () => {
  const c = parseConfig([], env);
  assert.equal(c.periodMs, 3_600_000);
  assert.equal(c.dsNamespace, 'kube-system');
  assert.equal(c.dsName, 'kured');
  assert.equal(c.lockAnnotation, 'weave.works/kured-node-lock');
  assert.equal(c.rebootSentinel, '/var/run/reboot-required');
  assert.equal(c.rebootCommand, '/bin/systemctl reboot');
  assert.equal(c.rebootSignal, 39);
  assert.equal(c.drainGracePeriod, -1);
  assert.deepEqual(c.rebootDays, ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa']);
  assert.equal(c.startTime, '0:00');
  assert.equal(c.endTime, '23:59:59');
  assert.equal(c.metricsPort, 8080);
  assert.equal(c.messageTemplateUncordon, 'Node %s rebooted & uncordoned successfully!');
  assert.equal(c.concurrency, 1);
});

test('every flag has a KURED_* environment form, and the command line wins over it', () => {
  assert.equal(envName('lock-release-delay'), 'KURED_LOCK_RELEASE_DELAY');
  const c = parseConfig(['--concurrency=2'], {
    ...env,
    KURED_CONCURRENCY: '3',
    KURED_DS_NAME: 'kured-ts',
    KURED_FORCE_REBOOT: 'true',
  });
  assert.equal(c.concurrency, 2);
  assert.equal(c.dsName, 'kured-ts');
  assert.equal(c.forceReboot, true);
  for (const spec of FLAGS) assert.match(envName(spec.flag), /^KURED_[A-Z_]+$/);
});

test('--blocking-pod-selector repeats, also from the environment (which kured cannot)', () => {
  const cli = parseConfig(['--blocking-pod-selector=app=a,tier=db', '--blocking-pod-selector', 'x=y'], env);
  assert.deepEqual(cli.blockingPodSelector, ['app=a,tier=db', 'x=y']);
  const fromEnv = parseConfig([], { ...env, KURED_BLOCKING_POD_SELECTOR: 'app=a,tier=db;x=y' });
  assert.deepEqual(fromEnv.blockingPodSelector, ['app=a,tier=db', 'x=y']);
});

test('string slices split on commas and accumulate, like pflag', () => {
  const c = parseConfig(
    ['--reboot-days=mo,tu', '--reboot-days', 'we', '--pre-reboot-node-labels=a=1,b=2'],
    env,
  );
  assert.deepEqual(c.rebootDays, ['mo', 'tu', 'we']);
  assert.deepEqual(c.preRebootNodeLabels, { a: '1', b: '2' });
});

test('booleans take kured forms', () => {
  assert.equal(parseConfig(['--annotate-nodes'], env).annotateNodes, true);
  assert.equal(parseConfig(['--annotate-nodes=false'], env).annotateNodes, false);
  assert.equal(parseConfig([], { ...env, KURED_ALERT_FIRING_ONLY: '1' }).alertFiringOnly, true);
});

test('zone rule: --max-zones and --zone-label, with their KURED_* forms and defaults', () => {
  assert.equal(parseConfig([], env).maxZones, 0);
  assert.equal(parseConfig([], env).zoneLabel, 'topology.kubernetes.io/zone');
  const c = parseConfig([], { ...env, KURED_MAX_ZONES: '2', KURED_ZONE_LABEL: 'example.com/rack' });
  assert.equal(c.maxZones, 2);
  assert.equal(c.zoneLabel, 'example.com/rack');
});

test('bad input is one clear ConfigError naming the flag and the fix', () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--perod=1h'], env, /unknown option '--perod=1h'/],
    [['--period=soon'], env, /--period: "soon" is not a duration; use Go's form/],
    [['--concurrency=0'], env, /--concurrency must be 1 or more/],
    [['--reboot-method=kexec'], env, /--reboot-method must be "command" or "signal"/],
    [['--post-reboot-node-labels=broken'], env, /"broken" is not a label; write key=value/],
    [['--alert-filter-regexp=('], env, /not a valid regular expression/],
    [[], {}, /KURED_NODE_ID/],
    [['--force-reboot=maybe'], env, /"maybe" is not true or false/],
    [['--max-zones=-1'], env, /--max-zones must be 0 \(no zone rule\) or more/],
    [[], { ...env, KURED_MAX_ZONES: 'two' }, /--max-zones: "two" is not a whole number/],
    [['--max-zones=1', '--zone-label='], env, /--zone-label is empty/],
  ];
  for (const [argv, e, message] of cases) {
    assert.throws(
      () => parseConfig(argv, e),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
    );
  }
});

test("durations are Go's", () => {
  assert.equal(parseGoDuration('1h30m', 'x'), 5_400_000);
  assert.equal(parseGoDuration('1.5h', 'x'), 5_400_000);
  assert.equal(parseGoDuration('300ms', 'x'), 300);
  assert.equal(parseGoDuration('0', 'x'), 0);
  assert.throws(() => parseGoDuration('10', 'x'), ConfigError);
});

test('the healthy-return flags: defaults, repeatable selectors (also from the environment), one clear error', () => {
  const d = parseConfig([], env);
  assert.deepEqual(
    [d.postRebootReadySelector, d.postRebootCheckAlerts, d.postRebootTimeoutMs, d.haltOnFailure],
    [[], false, 600_000, true],
  );
  const cli = parseConfig(
    ['--post-reboot-ready-selector=app=storage,tier=db', '--post-reboot-ready-selector', 'x in (a,b)'],
    env,
  );
  assert.deepEqual(cli.postRebootReadySelector, ['app=storage,tier=db', 'x in (a,b)']);
  const fromEnv = parseConfig([], {
    ...env,
    KURED_POST_REBOOT_READY_SELECTOR: 'app=storage,tier=db;x in (a,b)',
    KURED_HALT_ON_FAILURE: 'false',
    KURED_POST_REBOOT_TIMEOUT: '20m',
  });
  assert.deepEqual(fromEnv.postRebootReadySelector, ['app=storage,tier=db', 'x in (a,b)']);
  assert.equal(fromEnv.haltOnFailure, false);
  assert.equal(fromEnv.postRebootTimeoutMs, 1_200_000);
  assert.throws(
    () => parseConfig(['--post-reboot-check-alerts'], env),
    /^ConfigError: --post-reboot-check-alerts needs --prometheus-url/,
  );
  assert.equal(
    parseConfig(['--post-reboot-check-alerts', '--prometheus-url=http://prom:9090'], env)
      .postRebootCheckAlerts,
    true,
  );
});
