import type { Config } from '../core/config.ts';

/** The part of the configuration the reconcile loop reads (durations in ms), plus its own pacing. */
export type AgentSettings = Pick<
  Config,
  | 'nodeId'
  | 'periodMs'
  | 'concurrency'
  | 'lockTtlMs'
  | 'lockReleaseDelayMs'
  | 'rebootTimeoutMs'
  | 'drainDelayMs'
  | 'drainTimeoutMs'
  | 'rebootDelayMs'
  | 'forceReboot'
  | 'annotateNodes'
  | 'preRebootNodeLabels'
  | 'postRebootNodeLabels'
  | 'preferNoScheduleTaint'
  | 'notifyBlockedAfterMs'
  | 'postRebootTimeoutMs'
  | 'postRebootCheckAlerts'
  | 'haltOnFailure'
  | 'zoneLabel'
  | 'maxZones'
  | 'rebootRequestPeriodMs'
  | 'scaleDownProtection'
  | 'scaleDownGraceMs'
> & {
  /** How often closed gates are checked again (they cannot all be watched). */
  gateRecheckMs: number;
  /** How often a rebooting node is looked at, on top of the Node watch. */
  nodePollMs: number;
};

export function agentSettings(c: Config): AgentSettings {
  return { ...c, gateRecheckMs: Math.min(c.periodMs, 60_000), nodePollMs: 5_000 };
}
