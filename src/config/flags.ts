/**
 * Every kured flag, with kured's names and defaults, and its KURED_* environment form; plus the
 * kured-ts extras. Unlike kured (where the environment overrides the command line), a flag given
 * on the command line wins over the environment, as in most tools.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Config } from './config.ts';
import { parseGoDuration } from './duration.ts';
import { ConfigError } from './errors.ts';

type Kind = 'string' | 'int' | 'bool' | 'duration' | 'regexp' | 'slice' | 'array';

interface FlagSpec {
  flag: string;
  kind: Kind;
  default: string;
  help: string;
  /** Config field; defaults to the camelCase flag name. */
  field?: keyof Config;
  extra?: boolean;
}

const DAYS = 'su,mo,tu,we,th,fr,sa';

export const FLAGS: FlagSpec[] = [
  {
    flag: 'node-id',
    kind: 'string',
    default: '',
    help: 'name of the node this agent runs on (normally KURED_NODE_ID from spec.nodeName)',
  },
  {
    flag: 'reboot-sentinel',
    kind: 'string',
    default: '/var/run/reboot-required',
    help: 'path of the file whose existence means a reboot is needed',
  },
  {
    flag: 'reboot-sentinel-command',
    kind: 'string',
    default: '',
    help: 'command run on the host instead of the file check: exit 0 means a reboot is needed',
  },
  {
    flag: 'period',
    kind: 'duration',
    default: '1h',
    help: 'resync period (changes are noticed by watches within seconds)',
    field: 'periodMs',
  },
  {
    flag: 'ds-namespace',
    kind: 'string',
    default: 'kube-system',
    help: 'namespace of the DaemonSet holding the lock',
  },
  { flag: 'ds-name', kind: 'string', default: 'kured', help: 'name of the DaemonSet holding the lock' },
  {
    flag: 'lock-annotation',
    kind: 'string',
    default: 'weave.works/kured-node-lock',
    help: 'annotation on the DaemonSet holding the lock',
  },
  {
    flag: 'lock-ttl',
    kind: 'duration',
    default: '0',
    help: 'a lock older than this is expired (0: never)',
    field: 'lockTtlMs',
  },
  {
    flag: 'lock-release-delay',
    kind: 'duration',
    default: '0',
    help: 'hold the lock this long after the node is back (never keeps it cordoned)',
    field: 'lockReleaseDelayMs',
  },
  { flag: 'concurrency', kind: 'int', default: '1', help: 'how many nodes may reboot at once' },
  {
    flag: 'drain-delay',
    kind: 'duration',
    default: '0',
    help: 'wait this long before cordoning and draining',
    field: 'drainDelayMs',
  },
  {
    flag: 'drain-timeout',
    kind: 'duration',
    default: '0',
    help: 'give the drain up after this long (0: never)',
    field: 'drainTimeoutMs',
  },
  {
    flag: 'drain-grace-period',
    kind: 'int',
    default: '-1',
    help: 'seconds each pod gets to terminate (-1: its own terminationGracePeriodSeconds)',
  },
  {
    flag: 'drain-pod-selector',
    kind: 'string',
    default: '',
    help: 'drain only the pods matching this label selector',
  },
  {
    flag: 'skip-wait-for-delete-timeout',
    kind: 'int',
    default: '0',
    help: 'do not wait for pods deleted more than this many seconds ago',
  },
  {
    flag: 'force-reboot',
    kind: 'bool',
    default: 'false',
    help: 'reboot even when the drain fails or times out',
  },
  { flag: 'reboot-method', kind: 'string', default: 'command', help: 'command or signal' },
  {
    flag: 'reboot-command',
    kind: 'string',
    default: '/bin/systemctl reboot',
    help: 'command run on the host to reboot it',
  },
  {
    flag: 'reboot-signal',
    kind: 'int',
    default: '39',
    help: 'signal sent to the host init by --reboot-method=signal (39: SIGRTMIN+5)',
  },
  {
    flag: 'reboot-delay',
    kind: 'duration',
    default: '0',
    help: 'wait this long after draining before rebooting',
    field: 'rebootDelayMs',
  },
  { flag: 'reboot-days', kind: 'slice', default: DAYS, help: 'days on which reboots may start' },
  { flag: 'start-time', kind: 'string', default: '0:00', help: 'time of day reboots may start from' },
  { flag: 'end-time', kind: 'string', default: '23:59:59', help: 'time of day reboots may start until' },
  {
    flag: 'time-zone',
    kind: 'string',
    default: 'UTC',
    help: 'IANA time zone of --start-time and --end-time',
  },
  {
    flag: 'prometheus-url',
    kind: 'string',
    default: '',
    help: 'Prometheus to ask for firing alerts; any alert blocks reboots',
  },
  {
    flag: 'alert-filter-regexp',
    kind: 'regexp',
    default: '',
    help: 'alerts whose name matches are ignored (see --alert-filter-match-only)',
  },
  {
    flag: 'alert-filter-match-only',
    kind: 'bool',
    default: 'false',
    help: 'only alerts matching --alert-filter-regexp block',
  },
  { flag: 'alert-firing-only', kind: 'bool', default: 'false', help: 'ignore pending alerts' },
  {
    flag: 'blocking-pod-selector',
    kind: 'array',
    default: '',
    help: 'a pod on this node matching this selector blocks reboots (repeatable)',
  },
  {
    flag: 'notify-url',
    kind: 'string',
    default: '',
    help: 'notification URL (slack://, teams://, discord://, telegram://, smtp://, generic://...)',
  },
  { flag: 'slack-hook-url', kind: 'string', default: '', help: 'deprecated: use --notify-url' },
  { flag: 'slack-username', kind: 'string', default: 'kured', help: 'deprecated and unused (as in kured)' },
  { flag: 'slack-channel', kind: 'string', default: '', help: 'deprecated and unused (as in kured)' },
  {
    flag: 'message-template-drain',
    kind: 'string',
    default: 'Draining node %s',
    help: 'drain notification; %s is the node',
  },
  {
    flag: 'message-template-reboot',
    kind: 'string',
    default: 'Rebooting node %s',
    help: 'reboot notification; %s is the node',
  },
  {
    flag: 'message-template-uncordon',
    kind: 'string',
    default: 'Node %s rebooted & uncordoned successfully!',
    help: 'uncordon notification; %s is the node',
  },
  {
    flag: 'metrics-host',
    kind: 'string',
    default: '',
    help: 'address to serve /metrics, /healthz and /readyz on (empty: all)',
  },
  {
    flag: 'metrics-port',
    kind: 'int',
    default: '8080',
    help: 'port to serve /metrics, /healthz and /readyz on',
  },
  {
    flag: 'annotate-nodes',
    kind: 'bool',
    default: 'false',
    help: "write kured's reboot-in-progress and most-recent-reboot-needed annotations",
  },
  {
    flag: 'pre-reboot-node-labels',
    kind: 'slice',
    default: '',
    help: 'labels (k=v) set on the node before the drain',
  },
  {
    flag: 'post-reboot-node-labels',
    kind: 'slice',
    default: '',
    help: 'labels (k=v) set on the node after the reboot',
  },
  {
    flag: 'prefer-no-schedule-taint',
    kind: 'string',
    default: '',
    help: 'PreferNoSchedule taint key set while waiting for the lock (empty: none)',
  },
  { flag: 'log-format', kind: 'string', default: 'text', help: 'text or json' },
  // kured-ts extras
  {
    flag: 'reboot-timeout',
    kind: 'duration',
    default: '15m',
    help: 'give a reboot up when the node has not rebooted this long after the request',
    field: 'rebootTimeoutMs',
    extra: true,
  },
  { flag: 'drain-parallelism', kind: 'int', default: '5', help: 'evictions in flight at once', extra: true },
  {
    flag: 'host-pid',
    kind: 'int',
    default: '1',
    help: "PID of the host's init (nsenter and signal target)",
    extra: true,
  },
  {
    flag: 'nsenter-path',
    kind: 'string',
    default: '/usr/bin/nsenter',
    help: 'nsenter used to run host commands (empty: run them directly)',
    extra: true,
  },
  {
    flag: 'prometheus-bearer-token-file',
    kind: 'string',
    default: '',
    help: 'file holding a bearer token for Prometheus',
    extra: true,
  },
  {
    flag: 'prometheus-basic-auth-file',
    kind: 'string',
    default: '',
    help: 'file holding user:password for Prometheus',
    extra: true,
  },
  {
    flag: 'prometheus-ca-file',
    kind: 'string',
    default: '',
    help: "CA bundle for Prometheus' TLS certificate",
    extra: true,
  },
  {
    flag: 'notify-url-file',
    kind: 'string',
    default: '',
    help: 'file holding the notification URL (a mounted Secret); wins over --notify-url',
    extra: true,
  },
  {
    flag: 'message-template-drain-failed',
    kind: 'string',
    default: 'Draining node %s failed: %s',
    help: 'drain-failure notification; node, then cause',
    extra: true,
  },
  {
    flag: 'message-template-blocked',
    kind: 'string',
    default: 'Reboot of node %s is blocked: %s',
    help: 'long-blocked notification; node, then cause',
    extra: true,
  },
  {
    flag: 'notify-blocked-after',
    kind: 'duration',
    default: '24h',
    help: 'notify once when a needed reboot stays blocked this long (0: never)',
    field: 'notifyBlockedAfterMs',
    extra: true,
  },
];

export function envName(flag: string): string {
  return `KURED_${flag.toUpperCase().replaceAll('-', '_')}`;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Parses argv (without node and script) and env into a validated Config; throws ConfigError. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const program = new Command('kured-ts')
    .description('Kubernetes reboot daemon: a drop-in replacement for kured')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
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
  const raw = program.opts<Record<string, string | string[] | undefined>>();
  const fromCli = (spec: FlagSpec) => program.getOptionValueSource(camel(spec.flag)) === 'cli';
  const config: Record<string, unknown> = {};
  for (const spec of FLAGS) {
    const key = camel(spec.flag);
    const envValue = env[envName(spec.flag)];
    const value = fromCli(spec) || envValue === undefined ? raw[key] : fromEnv(spec, envValue);
    config[spec.field ?? key] = convert(spec, value);
  }
  return validate(config as unknown as Config);
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

function validate(c: Config): Config {
  const raw = c as unknown as Record<string, unknown>;
  if (!c.nodeId)
    throw new ConfigError(
      'no node name: set KURED_NODE_ID (the DaemonSet sets it from spec.nodeName) or --node-id',
    );
  if (c.concurrency < 1) throw new ConfigError(`--concurrency must be 1 or more, not ${c.concurrency}`);
  if (c.rebootMethod !== 'command' && c.rebootMethod !== 'signal') {
    throw new ConfigError(`--reboot-method must be "command" or "signal", not "${c.rebootMethod}"`);
  }
  if (c.rebootSignal < 1 || c.rebootSignal > 64)
    throw new ConfigError(`--reboot-signal must be a signal number (1-64), not ${c.rebootSignal}`);
  if (c.logFormat !== 'text' && c.logFormat !== 'json')
    throw new ConfigError(`--log-format must be "text" or "json", not "${c.logFormat}"`);
  if (c.metricsPort < 0 || c.metricsPort > 65535)
    throw new ConfigError(`--metrics-port must be 0-65535, not ${c.metricsPort}`);
  if (c.periodMs <= 0) throw new ConfigError('--period must be more than 0');
  if (c.drainParallelism < 1) throw new ConfigError('--drain-parallelism must be 1 or more');
  raw.preRebootNodeLabels = labels(raw.preRebootNodeLabels as string[], 'pre-reboot-node-labels');
  raw.postRebootNodeLabels = labels(raw.postRebootNodeLabels as string[], 'post-reboot-node-labels');
  return c;
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
    'Kubernetes reboot daemon: a drop-in replacement for kured.\nEvery flag can also be set as KURED_<FLAG_NAME> (e.g. --ds-name -> KURED_DS_NAME); a flag on the command line wins.',
  );
  for (const spec of FLAGS) program.addOption(option(spec));
  return program.helpInformation();
}
