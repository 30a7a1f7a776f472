/**
 * The agent's metrics: kured's `kured_reboot_required` under its exact name and help, plus the state
 * kured never exposed (phase, lock holders, what blocks, durations, counts, cordon age), and the
 * process metrics read at scrape time (./prom.ts). One registry per instance, so tests can build as many as they like.
 */

import type { Telemetry } from '../core/ports.ts';
import { Counter, collectProcessMetrics, Gauge, Histogram, Registry } from './prom.ts';
import { BUILD } from './version.ts';

export type NodePhase = Parameters<Telemetry['setPhase']>[0];
export const NODE_PHASES: readonly NodePhase[] = [
  'idle',
  'waiting',
  'draining',
  'rebooting',
  'settling',
  'halted',
  'releasing',
];
/** Pre-created at 0 so that queries and alerts see the series before the first block. */
const KNOWN_GATES = ['window', 'prometheus', 'pods', 'budgets'];

export class AgentMetrics implements Telemetry {
  readonly registry: Registry;
  private readonly node: string;
  private readonly rebootRequired: Gauge<'node'>;
  private readonly phase: Gauge<'node' | 'phase'>;
  private readonly lockHolders: Gauge<'holder'>;
  private readonly blocked: Gauge<'node' | 'gate'>;
  private readonly blockedGates = new Set<string>(KNOWN_GATES);
  private readonly drainDuration: Histogram<'node' | 'result'>;
  private readonly rebootDuration: Histogram<'node'>;
  private readonly reboots: Counter<'node'>;
  private readonly drainFailures: Counter<'node'>;
  private readonly cordonedSince: Gauge<'node'>;
  private readonly halted: Gauge<'node'>;
  private readonly healthyWait: Histogram<'node'>;
  /** Since when the node has needed a reboot (read at scrape time by ./schedule-metrics.ts). */
  neededSince: Date | undefined;

  constructor(node: string, opts: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    this.node = node;
    this.registry = opts.registry ?? new Registry();
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectProcessMetrics(this.registry);
    this.rebootRequired = new Gauge({
      name: 'kured_reboot_required',
      help: 'OS requires reboot due to software updates.',
      labelNames: ['node'],
      registers,
    });
    this.phase = new Gauge({
      name: 'kured_ts_node_phase',
      help: "1 for the node's current phase of the reboot cycle (idle, waiting, draining, rebooting, settling, halted, releasing).",
      labelNames: ['node', 'phase'],
      registers,
    });
    this.lockHolders = new Gauge({
      name: 'kured_ts_lock_holders',
      help: 'Nodes currently holding the reboot lock, as seen by this agent (1 per holder).',
      labelNames: ['holder'],
      registers,
    });
    this.blocked = new Gauge({
      name: 'kured_ts_reboot_blocked',
      help: 'Whether a needed reboot is held back by this gate (window, prometheus, pods, budgets); the reason is logged.',
      labelNames: ['node', 'gate'],
      registers,
    });
    this.drainDuration = new Histogram({
      name: 'kured_ts_drain_duration_seconds',
      help: 'Time to drain the node, by result (ok, failed).',
      labelNames: ['node', 'result'],
      buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers,
    });
    this.rebootDuration = new Histogram({
      name: 'kured_ts_reboot_duration_seconds',
      help: 'Time from the reboot request until the node was back and Ready.',
      labelNames: ['node'],
      buckets: [30, 60, 120, 180, 300, 600, 900, 1800, 3600],
      registers,
    });
    this.reboots = new Counter({
      name: 'kured_ts_reboots_total',
      help: 'Reboots completed (the node came back Ready).',
      labelNames: ['node'],
      registers,
    });
    this.drainFailures = new Counter({
      name: 'kured_ts_drain_failures_total',
      help: 'Drains that failed or timed out.',
      labelNames: ['node'],
      registers,
    });
    this.cordonedSince = new Gauge({
      name: 'kured_ts_cordoned_since_seconds',
      help: 'Unix time at which kured-ts cordoned the node; 0 when it is not cordoned by kured-ts.',
      labelNames: ['node'],
      registers,
    });
    this.halted = new Gauge({
      name: 'kured_ts_rollout_halted',
      help: 'Whether the rollout is halted on this node: it did not come back healthy within --post-reboot-timeout and keeps the lock (the reason is in kured-ts status and the log).',
      labelNames: ['node'],
      registers,
    });
    this.healthyWait = new Histogram({
      name: 'kured_ts_healthy_wait_seconds',
      help: 'Time from the node being back Ready after a reboot until it was healthy (its DaemonSet and selected pods Ready).',
      labelNames: ['node'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    // The usual *_build_info form: always 1, the facts are in the labels (join on them in queries).
    new Gauge({
      name: 'kured_ts_build_info',
      help: 'The version of kured-ts and the git commit it was built from (always 1).',
      labelNames: ['version', 'revision'],
      registers,
    })
      .labels(BUILD.version, BUILD.revision)
      .set(1);
    const metrics = this;
    new Gauge({
      name: 'kured_ts_reboot_needed_seconds',
      help: 'How long this node has needed a reboot, in seconds (0 when it does not); KuredTsRebootOverdue alerts on it.',
      labelNames: ['node'],
      registers,
      // Read when scraped, so it grows while the agent sleeps.
      collect() {
        const since = metrics.neededSince;
        this.labels(node).set(since ? Math.max(0, Math.round((Date.now() - since.getTime()) / 1000)) : 0);
      },
    });
    this.setHalted(undefined);
    this.setRebootRequired(false);
    this.setPhase('idle');
    this.setBlocked(undefined);
    this.setCordonedSince(undefined);
    this.reboots.labels(node).inc(0);
    this.drainFailures.labels(node).inc(0);
  }

  setRebootRequired(required: boolean): void {
    this.rebootRequired.labels(this.node).set(required ? 1 : 0);
  }

  setRebootNeededSince(since: Date | undefined): void {
    this.neededSince = since;
  }

  setPhase(phase: NodePhase): void {
    for (const p of NODE_PHASES) this.phase.labels(this.node, p).set(p === phase ? 1 : 0);
  }

  setLockHolders(holders: string[]): void {
    // reset() drops holders that left, so a released lock leaves no stale series.
    this.lockHolders.reset();
    for (const holder of new Set(holders)) this.lockHolders.labels(holder).set(1);
  }

  setBlocked(gate: string | undefined): void {
    if (gate !== undefined) this.blockedGates.add(gate);
    for (const g of this.blockedGates) this.blocked.labels(this.node, g).set(g === gate ? 1 : 0);
  }

  observeDrain(seconds: number, ok: boolean): void {
    this.drainDuration.labels(this.node, ok ? 'ok' : 'failed').observe(seconds);
    if (!ok) this.drainFailures.labels(this.node).inc();
  }

  /** A completed reboot: requested → node back Ready. */
  observeReboot(seconds: number): void {
    this.rebootDuration.labels(this.node).observe(seconds);
    this.reboots.labels(this.node).inc();
  }

  setCordonedSince(since: Date | undefined): void {
    this.cordonedSince.labels(this.node).set(since ? Math.floor(since.getTime() / 1000) : 0);
  }

  setHalted(reason: string | undefined): void {
    this.halted.labels(this.node).set(reason === undefined ? 0 : 1);
  }

  observeHealthyWait(seconds: number): void {
    this.healthyWait.labels(this.node).observe(seconds);
  }
}
