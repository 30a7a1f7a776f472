import type { Config } from '../config/config.ts';

/** The part of the configuration the reconcile loop reads (durations in ms). */
export interface AgentSettings {
  nodeName: string;
  periodMs: number;
  concurrency: number;
  lockTtlMs: number;
  lockReleaseDelayMs: number;
  rebootTimeoutMs: number;
  drainDelayMs: number;
  drainTimeoutMs: number;
  rebootDelayMs: number;
  forceReboot: boolean;
  annotateNodes: boolean;
  preRebootNodeLabels: Record<string, string>;
  postRebootNodeLabels: Record<string, string>;
  preferNoScheduleTaint: string;
  /** How often closed gates are checked again (they cannot all be watched). */
  gateRecheckMs: number;
  /** How often a rebooting node is looked at, on top of the Node watch. */
  nodePollMs: number;
  /** Notify once when a needed reboot stays blocked this long (0: never). */
  notifyBlockedAfterMs: number;
}

export function agentSettings(c: Config): AgentSettings {
  return {
    nodeName: c.nodeId,
    periodMs: c.periodMs,
    concurrency: c.concurrency,
    lockTtlMs: c.lockTtlMs,
    lockReleaseDelayMs: c.lockReleaseDelayMs,
    rebootTimeoutMs: c.rebootTimeoutMs,
    drainDelayMs: c.drainDelayMs,
    drainTimeoutMs: c.drainTimeoutMs,
    rebootDelayMs: c.rebootDelayMs,
    forceReboot: c.forceReboot,
    annotateNodes: c.annotateNodes,
    preRebootNodeLabels: c.preRebootNodeLabels,
    postRebootNodeLabels: c.postRebootNodeLabels,
    preferNoScheduleTaint: c.preferNoScheduleTaint,
    gateRecheckMs: Math.min(c.periodMs, 60_000),
    nodePollMs: 5_000,
    notifyBlockedAfterMs: c.notifyBlockedAfterMs,
  };
}
