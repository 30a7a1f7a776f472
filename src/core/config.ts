/**
 * The agent's configuration: one field per kured flag (kured's names in camelCase), plus the
 * kured-ts extras at the end. Parsed from flags and KURED_* environment variables in ./flags.ts.
 * Durations are milliseconds.
 */
export type RebootMethod = 'command' | 'signal';
export type LogFormat = 'text' | 'json';

export interface Config {
  nodeId: string;

  // sentinel and period
  rebootSentinel: string;
  rebootSentinelCommand: string;
  periodMs: number;

  // lock
  dsNamespace: string;
  dsName: string;
  lockAnnotation: string;
  lockTtlMs: number;
  lockReleaseDelayMs: number;
  concurrency: number;

  // drain
  drainDelayMs: number;
  drainTimeoutMs: number;
  drainGracePeriod: number;
  drainPodSelector: string;
  skipWaitForDeleteTimeout: number;
  forceReboot: boolean;

  // reboot
  rebootMethod: RebootMethod;
  rebootCommand: string;
  rebootSignal: number;
  rebootDelayMs: number;

  // window
  rebootDays: string[];
  startTime: string;
  endTime: string;
  timeZone: string;

  // blockers
  prometheusUrl: string;
  alertFilterRegexp: RegExp | undefined;
  alertFilterMatchOnly: boolean;
  alertFiringOnly: boolean;
  blockingPodSelector: string[];

  // notifications
  notifyUrl: string;
  slackHookUrl: string;
  slackUsername: string;
  slackChannel: string;
  messageTemplateDrain: string;
  messageTemplateReboot: string;
  messageTemplateUncordon: string;

  // metrics
  metricsHost: string;
  metricsPort: number;

  // node decorations
  annotateNodes: boolean;
  preRebootNodeLabels: Record<string, string>;
  postRebootNodeLabels: Record<string, string>;
  preferNoScheduleTaint: string;

  logFormat: LogFormat;

  // kured-ts extras (not in kured)
  /** How long after the reboot was requested the node must have come back before we give up. */
  rebootTimeoutMs: number;
  /** Maximum evictions in flight at once. */
  drainParallelism: number;
  /** PID of the host's init as seen from the agent: the nsenter target and the signal target. */
  hostPid: number;
  /** Path of nsenter; empty runs commands directly (no host namespace). */
  nsenterPath: string;
  /** Prometheus auth and TLS (kured has none). */
  prometheusBearerTokenFile: string;
  prometheusBasicAuthFile: string;
  prometheusCaFile: string;
  /** Notification URL read from a file (a mounted Secret) so it never sits in the pod spec. */
  notifyUrlFile: string;
  messageTemplateDrainFailed: string;
  messageTemplateBlocked: string;
  /** Notify once when a needed reboot stays blocked this long (0: never). */
  notifyBlockedAfterMs: number;
  /** What counts as back after a reboot, besides the node's DaemonSet pods: pods that must be Ready. */
  postRebootReadySelector: string[];
  /** Also wait for the Prometheus gate to be open again before releasing the lock. */
  postRebootCheckAlerts: boolean;
  /** How long a rebooted node may take to be healthy (0: no healthy wait). */
  postRebootTimeoutMs: number;
  /** Not healthy in time: keep the lock and halt the rollout (true) or release as kured does. */
  haltOnFailure: boolean;
  messageTemplateHalted: string;
  /** Node label whose value is the node's zone (nodes without it share one zone). */
  zoneLabel: string;
  /** How many zones may have nodes rebooting at once (0: no zone rule). */
  maxZones: number;
  /** Check PodDisruptionBudgets before taking the lock (kured-ts pre-flight). */
  budgetPreflight: boolean;
  /** AKS-style maintenance windows (src/gates/schedule.ts); with any, a reboot starts only inside one. */
  maintenanceWindow: string[];
  /** Date ranges on which no reboot starts (a freeze). */
  notAllowedDates: string[];
  /** Alertmanager (v2 API): its unsilenced, uninhibited active alerts block; also where silences go. */
  alertmanagerUrl: string;
  alertmanagerBearerTokenFile: string;
  alertmanagerBasicAuthFile: string;
  alertmanagerCaFile: string;
  /** Alertmanager matcher lists: only alerts matching one list's every matcher block (Prometheus and Alertmanager). */
  alertMatchers: string[];
  /** PromQL expressions that block while they return anything (asked of --prometheus-url). */
  blockingPrometheusQuery: string[];
  /** Matcher lists templated with {{node}}: one Alertmanager silence each, from the cordon until healthy. */
  silenceDuringReboot: string[];
  silenceMaxDurationMs: number;
  /** Approval hooks: POSTed before taking the lock (2xx goes on) and once the cycle is over. */
  preRebootHookUrl: string;
  postRebootHookUrl: string;
  hookBearerTokenFile: string;
  hookBasicAuthFile: string;
  hookCaFile: string;
  hookTimeoutMs: number;
  /** How often an idle agent looks for a `kured-ts reboot` request on its Node (0: never while idle). */
  rebootRequestPeriodMs: number;
  /** From the cordon until --scale-down-grace after the release: the autoscaler's and Karpenter's "leave me". */
  scaleDownProtection: boolean;
  scaleDownGraceMs: number;
}
