/**
 * Every kured flag, with kured's names and defaults, and its KURED_* environment form; plus the
 * kured-ts extras. Unlike kured (where the environment overrides the command line), a flag given
 * on the command line wins over the environment, as in most tools.
 */
import type { Config } from '../core/config.ts';

export type Kind = 'string' | 'int' | 'bool' | 'duration' | 'regexp' | 'slice' | 'array';

export interface FlagSpec {
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
  {
    flag: 'post-reboot-ready-selector',
    kind: 'array',
    default: '',
    help: 'after the reboot, pods on this node matching this selector must be Ready before the lock is released (repeatable; DaemonSet pods always are)',
    extra: true,
  },
  {
    flag: 'post-reboot-check-alerts',
    kind: 'bool',
    default: 'false',
    help: 'after the reboot, also wait for the Prometheus alerts (--prometheus-url) to clear before releasing the lock',
    extra: true,
  },
  {
    flag: 'post-reboot-timeout',
    kind: 'duration',
    default: '10m',
    help: 'how long a rebooted node may take to be healthy again (0: release as soon as it is Ready)',
    field: 'postRebootTimeoutMs',
    extra: true,
  },
  {
    flag: 'halt-on-failure',
    kind: 'bool',
    default: 'true',
    help: 'a node not healthy within --post-reboot-timeout keeps the lock: the rollout halts until it is healthy or the lock is released',
    extra: true,
  },
  {
    flag: 'message-template-halted',
    kind: 'string',
    default: 'Rollout halted: node %s did not come back healthy: %s',
    help: 'halted-rollout notification; node, then cause',
    extra: true,
  },
  {
    flag: 'zone-label',
    kind: 'string',
    default: 'topology.kubernetes.io/zone',
    help: 'node label holding the zone, for --max-zones (nodes without it form one zone of their own)',
    extra: true,
  },
  {
    flag: 'max-zones',
    kind: 'int',
    default: '0',
    help: 'how many zones may have nodes rebooting at once, within --concurrency (0: no zone rule)',
    extra: true,
  },
  {
    flag: 'budget-preflight',
    kind: 'bool',
    default: 'true',
    help: 'before taking the lock, wait while a PodDisruptionBudget allowing no disruption would block the drain (false: drain as kured does)',
    extra: true,
  },
  {
    flag: 'maintenance-window',
    kind: 'array',
    default: '',
    help: 'a window reboots may start in, AKS-style: "weekly sa,su 22:00 4h Europe/Paris", "monthly 15 02:00 6h UTC+01:00", "monthly last-su 01:00 3h" (repeatable; with any, only inside one; the reboot window must allow it too)',
    extra: true,
  },
  {
    flag: 'not-allowed-dates',
    kind: 'slice',
    default: '',
    help: 'dates no reboot starts on, local to each window: 2026-12-24 or 2026-11-27..2026-11-30 (repeatable, comma-separated)',
    extra: true,
  },
  {
    flag: 'alertmanager-url',
    kind: 'string',
    default: '',
    help: 'Alertmanager to ask for firing alerts (v2 API): active ones block, silenced and inhibited ones do not',
    extra: true,
  },
  {
    flag: 'alertmanager-bearer-token-file',
    kind: 'string',
    default: '',
    help: 'file holding a bearer token for Alertmanager',
    extra: true,
  },
  {
    flag: 'alertmanager-basic-auth-file',
    kind: 'string',
    default: '',
    help: 'file holding user:password for Alertmanager',
    extra: true,
  },
  {
    flag: 'alertmanager-ca-file',
    kind: 'string',
    default: '',
    help: "CA bundle for Alertmanager's TLS certificate",
    extra: true,
  },
  {
    flag: 'alert-matchers',
    kind: 'array',
    default: '',
    help: 'Alertmanager matchers selecting the alerts that block (Prometheus and Alertmanager), e.g. severity=~"critical|page",team!="db" (repeatable: any list may match)',
    extra: true,
  },
  {
    flag: 'blocking-prometheus-query',
    kind: 'array',
    default: '',
    help: 'a PromQL expression that blocks reboots while it returns anything, asked of --prometheus-url (repeatable)',
    extra: true,
  },
  {
    flag: 'silence-during-reboot',
    kind: 'array',
    default: '',
    help: 'matchers of an Alertmanager silence held from the cordon until the node is healthy; {{node}} is the node, e.g. instance=~"{{node}}(:.*)?" (repeatable: one silence each)',
    extra: true,
  },
  {
    flag: 'silence-max-duration',
    kind: 'duration',
    default: '30m',
    help: 'a silence of --silence-during-reboot ends at most this long after it was created, even if the agent dies',
    field: 'silenceMaxDurationMs',
    extra: true,
  },
  {
    flag: 'pre-reboot-hook-url',
    kind: 'string',
    default: '',
    help: 'POSTed a JSON document (node, cycle, reason, planned time) before taking the lock: only a 2xx answer lets the reboot go on',
    extra: true,
  },
  {
    flag: 'post-reboot-hook-url',
    kind: 'string',
    default: '',
    help: 'POSTed the outcome once the rebooted node is healthy, or when its rollout halts',
    extra: true,
  },
  {
    flag: 'hook-bearer-token-file',
    kind: 'string',
    default: '',
    help: 'file holding a bearer token for the reboot hooks',
    extra: true,
  },
  {
    flag: 'hook-basic-auth-file',
    kind: 'string',
    default: '',
    help: 'file holding user:password for the reboot hooks',
    extra: true,
  },
  {
    flag: 'hook-ca-file',
    kind: 'string',
    default: '',
    help: "CA bundle for the hooks' TLS certificates",
    extra: true,
  },
  {
    flag: 'hook-timeout',
    kind: 'duration',
    default: '30s',
    help: 'how long a hook may take to answer (no answer in time counts as a refusal)',
    field: 'hookTimeoutMs',
    extra: true,
  },
  {
    flag: 'reboot-request-period',
    kind: 'duration',
    default: '5m',
    help: 'how often an idle agent reads its Node (one GET) for a `kured-ts reboot` request; a node already waiting or rebooting sees one at once (0: only those)',
    field: 'rebootRequestPeriodMs',
    extra: true,
  },
  {
    flag: 'scale-down-protection',
    kind: 'bool',
    default: 'true',
    help: 'from the cordon until --scale-down-grace after the lock is released, annotate the node so that the cluster autoscaler (scale-down-disabled) and Karpenter (do-not-disrupt) leave it; put back as they were after',
    extra: true,
  },
  {
    flag: 'scale-down-grace',
    kind: 'duration',
    default: '10m',
    help: 'how long after the lock is released the node keeps the autoscaler and Karpenter annotations',
    field: 'scaleDownGraceMs',
    extra: true,
  },
];

export function envName(flag: string): string {
  return `KURED_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
