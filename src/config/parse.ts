/**
 * Flags and KURED_* environment -> a validated Config. The command line wins over the environment
 * (kured does the opposite); every mistake is one ConfigError naming the flag and the fix.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { ALERTMANAGER_FLAGS } from '../gates/alertmanager.ts';
import { parseServiceUrl } from '../gates/endpoint.ts';
import { alertMatchers } from '../gates/index.ts';
import { parsePrometheusUrl } from '../gates/prometheus.ts';
import { parseMaintenanceWindow, parseNotAllowedDates } from '../gates/schedule.ts';
import { silenceMatchers } from '../gates/silence.ts';
import { parseDays, parseTimeOfDay } from '../gates/window.ts';
import { resolveTimeZone } from '../gates/zoned-time.ts';
import { hostCommand } from '../reboot/host.ts';
import { parseGoDuration } from './duration.ts';
import { camel, envName, FLAGS, type FlagSpec } from './flags.ts';

/**
 * Parses argv (without node and script) and env into a validated Config. Every flag is checked
 * before the environment the agent runs in (its node name), and every problem is reported: the
 * ConfigError holds one line per problem.
 */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const program = new Command('kured-ts')
    .description('Kubernetes reboot daemon: a drop-in replacement for kured')
    .helpOption('-h, --help', 'show this help')
    // Unknown flags and stray words are collected below, with the other problems.
    .allowUnknownOption()
    .allowExcessArguments()
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  for (const spec of FLAGS) program.addOption(option(spec));
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') throw err;
      throw new ConfigError(
        `${err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}; see kured-ts --help`,
      );
    }
    throw err;
  }
  const problems = program.args.map((arg) =>
    arg.startsWith('-')
      ? `unknown option '${arg}'; see kured-ts --help`
      : `unexpected argument '${arg}'; flags are written --flag=value`,
  );
  const raw = program.opts<Record<string, string | string[] | undefined>>();
  const fromCli = (spec: FlagSpec) => program.getOptionValueSource(camel(spec.flag)) === 'cli';
  const config: Record<string, unknown> = {};
  for (const spec of FLAGS) {
    const key = camel(spec.flag);
    const envValue = env[envName(spec.flag)];
    const value = fromCli(spec) || envValue === undefined ? raw[key] : fromEnv(spec, envValue);
    const problem = attempt(() => {
      config[spec.field ?? key] = convert(spec, value);
    });
    if (problem) problems.push(problem);
  }
  problems.push(...validate(config as unknown as Config));
  // The environment last: a bad flag is reported even where the node name is missing.
  if (!config.nodeId)
    problems.push('no node name: set KURED_NODE_ID (the DaemonSet sets it from spec.nodeName) or --node-id');
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return config as unknown as Config;
}

/** Runs a check that throws ConfigError; returns its message, or undefined when it passed. */
function attempt(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

function option(spec: FlagSpec): Option {
  const o = new Option(`--${spec.flag} ${spec.kind === 'bool' ? '[bool]' : '<value>'}`, spec.help);
  if (spec.kind === 'bool') return o.preset('true').default(spec.default);
  // Repeatable: every occurrence adds (stringSlice also splits on commas, like pflag).
  if (spec.kind === 'slice' || spec.kind === 'array') {
    return o
      .argParser((v: string, prev: string[] | undefined) => [
        ...(prev ?? []),
        ...(spec.kind === 'slice' ? splitList(v) : [v]),
      ])
      .default(undefined, spec.default || 'none');
  }
  return o.default(spec.default);
}

function fromEnv(spec: FlagSpec, value: string): string | string[] {
  if (spec.kind === 'slice') return splitList(value);
  // Selectors contain commas, so several in one variable are separated by ';' or newlines.
  if (spec.kind === 'array')
    return value
      .split(/[;\n]/)
      .map((s) => s.trim())
      .filter(Boolean);
  return value;
}

function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function convert(spec: FlagSpec, value: string | string[] | undefined): unknown {
  const text = Array.isArray(value) ? value.join(',') : (value ?? spec.default);
  switch (spec.kind) {
    case 'string':
      return text;
    case 'int': {
      if (!/^[-+]?\d+$/.test(text.trim()))
        throw new ConfigError(`--${spec.flag}: "${text}" is not a whole number`);
      return Number(text);
    }
    case 'bool': {
      const b = /^(1|t|true|TRUE|True)$/.test(text)
        ? true
        : /^(0|f|false|FALSE|False)$/.test(text)
          ? false
          : undefined;
      if (b === undefined) throw new ConfigError(`--${spec.flag}: "${text}" is not true or false`);
      return b;
    }
    case 'duration':
      return parseGoDuration(text, spec.flag);
    case 'regexp':
      if (!text) return undefined;
      try {
        return new RegExp(text);
      } catch (e) {
        throw new ConfigError(
          `--${spec.flag}: "${text}" is not a valid regular expression (${(e as Error).message})`,
        );
      }
    case 'slice':
      return Array.isArray(value) ? value : splitList(spec.default);
    case 'array':
      return Array.isArray(value) ? value : [];
  }
}

/** Every check of values that parsed; one message per problem. Values that did not parse are skipped. */
function validate(c: Config): string[] {
  const raw = c as unknown as Record<string, unknown>;
  const checks: Array<() => string | undefined> = [
    () => (c.concurrency < 1 ? `--concurrency must be 1 or more, not ${c.concurrency}` : undefined),
    () =>
      c.rebootMethod !== 'command' && c.rebootMethod !== 'signal'
        ? `--reboot-method must be "command" or "signal", not "${c.rebootMethod}"`
        : undefined,
    () =>
      c.rebootSignal < 1 || c.rebootSignal > 64
        ? `--reboot-signal must be a signal number (1-64), not ${c.rebootSignal}`
        : undefined,
    () =>
      c.logFormat !== 'text' && c.logFormat !== 'json'
        ? `--log-format must be "text" or "json", not "${c.logFormat}"`
        : undefined,
    () =>
      c.metricsPort < 0 || c.metricsPort > 65535
        ? `--metrics-port must be 0-65535, not ${c.metricsPort}`
        : undefined,
    () => (c.periodMs <= 0 ? '--period must be more than 0' : undefined),
    () => (c.drainParallelism < 1 ? '--drain-parallelism must be 1 or more' : undefined),
    () => (c.maxZones < 0 ? `--max-zones must be 0 (no zone rule) or more, not ${c.maxZones}` : undefined),
    () =>
      c.maxZones > 0 && !c.zoneLabel
        ? '--zone-label is empty; --max-zones needs the node label that holds the zone'
        : undefined,
    () =>
      c.postRebootCheckAlerts && !c.prometheusUrl
        ? '--post-reboot-check-alerts needs --prometheus-url (the alerts it waits for); set both or drop it'
        : undefined,
    // The reboot window, the Prometheus URL and the host commands are checked here too, so that
    // every flag is checked before the agent touches files or the network.
    () => attempt(() => parseDays(c.rebootDays)),
    () => attempt(() => parseTimeOfDay(c.startTime, '--start-time')),
    () => attempt(() => parseTimeOfDay(c.endTime, '--end-time')),
    () => attempt(() => resolveTimeZone(c.timeZone)),
    ...c.maintenanceWindow.map((w) => () => attempt(() => parseMaintenanceWindow(w))),
    () => attempt(() => parseNotAllowedDates(c.notAllowedDates)),
    () => (c.prometheusUrl ? attempt(() => parsePrometheusUrl(c.prometheusUrl)) : undefined),
    () =>
      c.alertmanagerUrl ? attempt(() => parseServiceUrl(c.alertmanagerUrl, ALERTMANAGER_FLAGS)) : undefined,
    () => attempt(() => alertMatchers(c.alertMatchers)),
    () =>
      c.blockingPrometheusQuery.some((q) => q.trim()) && !c.prometheusUrl
        ? '--blocking-prometheus-query needs --prometheus-url (the Prometheus that runs it); set both or drop it'
        : undefined,
    () =>
      c.silenceDuringReboot.some((q) => q.trim()) && !c.alertmanagerUrl
        ? '--silence-during-reboot needs --alertmanager-url (where the silence goes); set both or drop it'
        : undefined,
    () => attempt(() => silenceMatchers(c.silenceDuringReboot, 'node-name')),
    () => (c.silenceMaxDurationMs <= 0 ? '--silence-max-duration must be more than 0' : undefined),
    ...(['preRebootHookUrl', 'postRebootHookUrl'] as const).map(
      (key) => () =>
        c[key]
          ? attempt(() =>
              parseServiceUrl(
                c[key],
                {
                  url: key === 'preRebootHookUrl' ? '--pre-reboot-hook-url' : '--post-reboot-hook-url',
                  example: 'https://itsm.example/api/kured',
                },
                true,
              ),
            )
          : undefined,
    ),
    () => (c.hookTimeoutMs <= 0 ? '--hook-timeout must be more than 0' : undefined),
    () => attempt(() => hostCommand(c.rebootCommand, '', 1, '--reboot-command')),
    () =>
      c.rebootSentinelCommand
        ? attempt(() => hostCommand(c.rebootSentinelCommand, '', 1, '--reboot-sentinel-command'))
        : undefined,
    () =>
      attempt(() => {
        raw.preRebootNodeLabels = labels(raw.preRebootNodeLabels as string[], 'pre-reboot-node-labels');
      }),
    () =>
      attempt(() => {
        raw.postRebootNodeLabels = labels(raw.postRebootNodeLabels as string[], 'post-reboot-node-labels');
      }),
    () => {
      c.postRebootReadySelector = c.postRebootReadySelector.map((sel) => sel.trim()).filter(Boolean);
      return undefined;
    },
  ];
  const problems: string[] = [];
  for (const check of checks) {
    const problem = check();
    if (problem) problems.push(problem);
  }
  return problems;
}

/** kured panics on a label without '='; we say which one and how to write it. */
function labels(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--${flag}: "${item}" is not a label; write key=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** The help text, for `kured-ts --help` (commander's, with the environment form noted). */
export function helpText(): string {
  const program = new Command('kured-ts').description(
    'Kubernetes reboot daemon: a drop-in replacement for kured.\nEvery flag can also be set as KURED_<FLAG_NAME> (e.g. --ds-name -> KURED_DS_NAME); a flag on the command line wins.\nOperator commands (also as the kubectl plugin `kubectl kured-ts`): status, plan, pause, resume, history, completion; `kured-ts <command> --help` for each.',
  );
  program.option('--version', 'print the version and the commit it was built from');
  for (const spec of FLAGS) program.addOption(option(spec));
  return program.helpInformation();
}
